// A Status's JSON as upstream writes it, byte for byte: fields in Go declaration order (kind,
// apiVersion, metadata, status, message, reason, details, code), details and causes likewise,
// empty fields omitted as their omitempty tags say (some clients compare error bodies).
import test from 'ava';
import { ApiError, errors, invalid } from '../src/errors.js';

test('NotFound for an unknown path is the bytes kube-apiserver sends', (t) => {
  const err = new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  t.is(JSON.stringify(err.toStatus()), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}');
});

test('NotFound of an object: details name, group, kind in Go order, group omitted for the core group', (t) => {
  t.is(JSON.stringify(errors.notFound({ group: '', resource: 'pods' }, 'x').toStatus()), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"x\\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}');
  t.is(JSON.stringify(errors.notFound({ group: 'apps', resource: 'deployments' }, 'd').toStatus()), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \\"d\\" not found","reason":"NotFound","details":{"name":"d","group":"apps","kind":"deployments"},"code":404}');
});

test('Invalid: causes with reason, message, field in order', (t) => {
  const s = invalid('ConfigMap', '', 'c', [{ type: 'FieldValueRequired', field: 'data' }]).toStatus();
  t.is(JSON.stringify(s), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ConfigMap \\"c\\" is invalid: data: Required value","reason":"Invalid","details":{"name":"c","kind":"ConfigMap","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"data"}]},"code":422}');
});

test('a Status without details or reason omits them; retryAfterSeconds comes last in details', (t) => {
  t.is(JSON.stringify(errors.unauthorized().toStatus()), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}');
  t.is(JSON.stringify(new ApiError(500, '', 'x').toStatus()), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"x","code":500}');
  t.is(JSON.stringify(errors.tooManyRequests('slow down').toStatus()), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"slow down","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}');
});

test('Invalid names the kind qualified by its group, as upstream (core kinds unqualified)', (t) => {
  t.is(invalid('RoleBinding', 'rbac.authorization.k8s.io', 'b', [{ type: 'FieldValueInvalid', field: 'roleRef', value: 'x', detail: 'cannot change roleRef' }]).message, 'RoleBinding.rbac.authorization.k8s.io "b" is invalid: roleRef: Invalid value: "x": cannot change roleRef');
  t.is(invalid('Pod', '', 'p', [{ type: 'FieldValueRequired', field: 'spec.containers' }]).message, 'Pod "p" is invalid: spec.containers: Required value');
});
