// Prototype pollution (issue 10, hole 1) through the real REST API over HTTPS
// and the real gRPC API on a real etcd 3.4: a user who may only get, create,
// update and patch ConfigMaps in namespace "team" sends every body and path
// that once reached Object.prototype (JSON patch, merge patch, strategic
// merge patch, apply YAML, create and update bodies). Each answer is a 422
// Invalid naming the field, the ConfigMap is unchanged, Object.prototype of
// the (in-process) server is clean, the server still serves /readyz and
// /metrics, and RBAC still refuses a user without bindings.
import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { ResourcesClient, type GrpcApiError, type PatchKind } from '../src/grpc/client.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

let fx: Fixture;
const clients: ResourcesClient[] = [];
let bobGrpc: ResourcesClient;
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const CM_PATH = '/api/v1/namespaces/team/configmaps';
/** Object.prototype's own keys before any attack. */
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

test.before(async () => {
  fx = await startFixture();
  const s = fx.server;
  const must = async (r: Promise<Reply>) => {
    const reply = await r;
    if (reply.status >= 300) throw new Error(`setup failed: ${reply.status} ${reply.text}`);
    return reply;
  };
  await must(api(s, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } }));
  await must(
    api(s, 'POST', `${RBAC}/namespaces/team/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'cm-editor' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update', 'patch'] }],
    }),
  );
  await must(
    api(s, 'POST', `${RBAC}/namespaces/team/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'bob-cm-editor' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-editor' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' }],
    }),
  );
  await must(api(s, 'POST', CM_PATH, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'target', labels: { app: 'x' } }, data: { a: '1' } }));
  bobGrpc = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, token: 'bob-token' });
  clients.push(bobGrpc);
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await fx?.stop();
});

const bob = (method: string, path: string, body: string, contentType: string) => api(fx.server, method, path, body, { token: 'bob-token', contentType });

/** The ConfigMap as the admin sees it. */
async function target(): Promise<Record<string, unknown>> {
  const r = await api(fx.server, 'GET', `${CM_PATH}/target`);
  if (r.status !== 200) throw new Error(`get target: ${r.status} ${r.text}`);
  return r.body;
}

/** The server is sound: nothing written to Object.prototype, it serves, RBAC refuses. */
async function serverIsSound(t: ExecutionContext, before: Record<string, unknown>): Promise<void> {
  t.is(({} as Record<string, unknown>).apiGroups, undefined, 'Object.prototype.apiGroups');
  t.is(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype.polluted');
  t.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTO_KEYS, 'Object.prototype keys');
  t.deepEqual(await target(), before, 'the ConfigMap is unchanged');
  const ready = await api(fx.server, 'GET', '/readyz', undefined, { anonymous: true });
  t.is(ready.status, 200, `readyz: ${ready.text}`);
  const metrics = await api(fx.server, 'GET', '/metrics', undefined, { accept: 'text/plain' });
  t.is(metrics.status, 200, 'metrics');
  t.regex(metrics.text, /apiserver_request_duration_seconds|apiserver_/);
  const secrets = await api(fx.server, 'GET', '/api/v1/namespaces/team/secrets', undefined, { token: 'alice-token' });
  t.is(secrets.status, 403, `alice on secrets: ${secrets.text}`);
  t.is(secrets.body.kind, 'Status');
}

/** A 422 Invalid Status whose message and causes name `field`. */
function isInvalid(t: ExecutionContext, r: Reply, field: string, what: string): void {
  t.is(r.status, 422, `${what}: ${r.text}`);
  t.is(r.body?.kind, 'Status', what);
  t.is(r.body?.status, 'Failure', what);
  t.is(r.body?.reason, 'Invalid', what);
  t.true(String(r.body?.message).includes(`${field}: Forbidden`), `${what}: message ${r.body?.message}`);
  t.true((r.body?.details?.causes ?? []).some((c: { field?: string; reason?: string }) => c.field === field && c.reason === 'FieldValueForbidden'), `${what}: causes`);
}

const JSON_PATCH = 'application/json-patch+json';
const MERGE = 'application/merge-patch+json';
const SMP = 'application/strategic-merge-patch+json';
const APPLY = 'application/apply-patch+yaml';

test.serial('bob may patch ConfigMaps in team but not read secrets (the precondition of the attacks)', async (t) => {
  // The precondition of the attack: bob's patches reach the patch engine.
  const ok = await bob('PATCH', `${CM_PATH}/target`, JSON.stringify([{ op: 'test', path: '/data/a', value: '1' }]), JSON_PATCH);
  t.is(ok.status, 200, ok.text);
  const denied = await bob('GET', '/api/v1/namespaces/team/secrets', '', 'application/json');
  t.is(denied.status, 403);
  await serverIsSound(t, await target());
});

const JSON_PATCH_ATTACKS: { ops: unknown[]; field: string }[] = [];
for (const op of ['add', 'replace']) {
  JSON_PATCH_ATTACKS.push({ ops: [{ op, path: '/__proto__/apiGroups', value: ['*'] }], field: '__proto__' });
  JSON_PATCH_ATTACKS.push({ ops: [{ op, path: '/constructor/prototype/apiGroups', value: ['*'] }], field: 'constructor' });
  JSON_PATCH_ATTACKS.push({ ops: [{ op, path: '/metadata/__proto__/apiGroups', value: ['*'] }], field: 'metadata.__proto__' });
  JSON_PATCH_ATTACKS.push({ ops: [{ op, path: '/data/prototype', value: 'x' }], field: 'data.prototype' });
}
for (const op of ['copy', 'move']) {
  JSON_PATCH_ATTACKS.push({ ops: [{ op, from: '/data/a', path: '/__proto__/apiGroups' }], field: '__proto__' });
  JSON_PATCH_ATTACKS.push({ ops: [{ op, from: '/data/a', path: '/constructor/prototype/apiGroups' }], field: 'constructor' });
  JSON_PATCH_ATTACKS.push({ ops: [{ op, from: '/data/a', path: '/metadata/__proto__/apiGroups' }], field: 'metadata.__proto__' });
  JSON_PATCH_ATTACKS.push({ ops: [{ op, from: '/metadata/__proto__', path: '/data/b' }], field: 'metadata.__proto__' });
  JSON_PATCH_ATTACKS.push({ ops: [{ op, from: '/constructor', path: '/data/b' }], field: 'constructor' });
}
// A value that carries the key, and a first harmless op that must not be kept.
// (found in the decoded patch document itself, so the field is the patch's own path)
JSON_PATCH_ATTACKS.push({ ops: [{ op: 'add', path: '/metadata/labels', value: JSON.parse('{"__proto__":{"apiGroups":["*"]}}') }], field: '[0].value.__proto__' });
JSON_PATCH_ATTACKS.push({ ops: [{ op: 'add', path: '/data/b', value: '2' }, { op: 'add', path: '/__proto__/polluted', value: 'yes' }], field: '__proto__' });

test.serial('JSON patch through __proto__, constructor and prototype is 422 and changes nothing', async (t) => {
  const before = await target();
  for (const { ops, field } of JSON_PATCH_ATTACKS) {
    const body = JSON.stringify(ops);
    const r = await bob('PATCH', `${CM_PATH}/target`, body, JSON_PATCH);
    isInvalid(t, r, field, body);
    t.true(String(r.body?.message).startsWith('ConfigMap "target" is invalid: '), r.body?.message);
  }
  await serverIsSound(t, before);
});

test.serial('JSON patch array indexes must be decimal indexes', async (t) => {
  const before = await target();
  await api(fx.server, 'PATCH', `${CM_PATH}/target`, JSON.stringify([{ op: 'add', path: '/metadata/finalizers', value: ['example.com/a'] }]), { contentType: JSON_PATCH });
  const withList = await target();
  for (const index of ['01', '1e0', ' 0', '0x0', '-1', 'length', '99999999999']) {
    const body = JSON.stringify([{ op: 'replace', path: `/metadata/finalizers/${index}`, value: 'example.com/b' }]);
    const r = await bob('PATCH', `${CM_PATH}/target`, body, JSON_PATCH);
    t.is(r.status, 422, `${index}: ${r.text}`);
    t.is(r.body.reason, 'Invalid');
    t.true(String(r.body.message).includes('doc is missing path'), r.body.message);
  }
  t.deepEqual(await target(), withList);
  const undo = await api(fx.server, 'PATCH', `${CM_PATH}/target`, JSON.stringify([{ op: 'remove', path: '/metadata/finalizers' }]), { contentType: JSON_PATCH });
  t.is(undo.status, 200, undo.text);
  const after = await target();
  t.deepEqual(after.data, before.data);
  await serverIsSound(t, after);
});

const MERGE_ATTACKS: { body: string; field: string }[] = [
  { body: '{"__proto__":{"apiGroups":["*"]}}', field: '__proto__' },
  { body: '{"metadata":{"__proto__":{"apiGroups":["*"]}}}', field: 'metadata.__proto__' },
  { body: '{"metadata":{"labels":{"__proto__":{"apiGroups":["*"]}}}}', field: 'metadata.labels.__proto__' },
  { body: '{"constructor":{"prototype":{"apiGroups":["*"]}}}', field: 'constructor' },
  { body: '{"data":{"b":"2"},"metadata":{"annotations":{"constructor":{"prototype":{"polluted":"yes"}}}}}', field: 'metadata.annotations.constructor' },
  { body: '{"data":{"prototype":"x"}}', field: 'data.prototype' },
];

test.serial('merge patch and strategic merge patch bodies with __proto__ are 422 and change nothing', async (t) => {
  const before = await target();
  for (const type of [MERGE, SMP]) {
    for (const { body, field } of MERGE_ATTACKS) {
      const r = await bob('PATCH', `${CM_PATH}/target`, body, type);
      isInvalid(t, r, field, `${type} ${body}`);
    }
  }
  // Strategic merge patch directives naming object internals change nothing either.
  const directive = await bob('PATCH', `${CM_PATH}/target`, '{"$setElementOrder/__proto__":[{"a":1}],"$deleteFromPrimitiveList/constructor":["x"],"data":{"a":"1"}}', SMP);
  t.true(directive.status === 200 || directive.status === 422, directive.text);
  await serverIsSound(t, await target());
  t.deepEqual((await target()).data, before.data);
});

test.serial('server-side apply YAML with __proto__ is 422 and changes nothing', async (t) => {
  const before = await target();
  const attacks: { yaml: string; field: string }[] = [
    { yaml: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: target\n__proto__:\n  apiGroups: ["*"]\n', field: '__proto__' },
    { yaml: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: target\n  __proto__:\n    apiGroups: ["*"]\n', field: 'metadata.__proto__' },
    { yaml: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: target\ndata:\n  constructor:\n    prototype:\n      polluted: "yes"\n', field: 'data.constructor' },
  ];
  for (const { yaml, field } of attacks) {
    const r = await bob('PATCH', `${CM_PATH}/target?fieldManager=bob`, yaml, APPLY);
    isInvalid(t, r, field, yaml);
    t.true(String(r.body.message).startsWith('ConfigMap "target" is invalid: '), r.body.message);
  }
  // An apply that creates: nothing is created.
  const create = await bob('PATCH', `${CM_PATH}/fresh?fieldManager=bob`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fresh\n  labels:\n    __proto__: x\n', APPLY);
  isInvalid(t, create, 'metadata.labels.__proto__', 'apply create');
  t.is((await api(fx.server, 'GET', `${CM_PATH}/fresh`)).status, 404);
  await serverIsSound(t, before);
});

test.serial('create and update bodies (JSON and YAML) with __proto__ are 422 and store nothing', async (t) => {
  const before = await target();
  const creates: { body: string; type: string; field: string }[] = [
    { body: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"evil"},"__proto__":{"apiGroups":["*"]}}', type: 'application/json', field: '__proto__' },
    { body: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"evil","__proto__":{"apiGroups":["*"]}}}', type: 'application/json', field: 'metadata.__proto__' },
    { body: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"evil"},"data":{"constructor":"x"}}', type: 'application/json', field: 'data.constructor' },
    { body: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil\n  labels:\n    __proto__: x\n', type: 'application/yaml', field: 'metadata.labels.__proto__' },
  ];
  for (const { body, type, field } of creates) {
    const r = await bob('POST', CM_PATH, body, type);
    isInvalid(t, r, field, body);
    t.true(String(r.body.message).startsWith('ConfigMap "evil" is invalid: '), r.body.message);
  }
  t.is((await api(fx.server, 'GET', `${CM_PATH}/evil`)).status, 404);
  const rv = String((before.metadata as Record<string, unknown>).resourceVersion);
  const put = await bob('PUT', `${CM_PATH}/target`, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"target","resourceVersion":"${rv}"},"data":{"a":"1"},"__proto__":{"apiGroups":["*"]}}`, 'application/json');
  isInvalid(t, put, '__proto__', 'PUT');
  await serverIsSound(t, before);
});

/** The rejection of a gRPC call. */
async function grpcFailure(p: Promise<unknown>): Promise<GrpcApiError> {
  try {
    await p;
  } catch (err) {
    return err as GrpcApiError;
  }
  throw new Error('the call succeeded');
}

function isGrpcInvalid(t: ExecutionContext, err: GrpcApiError, field: string, what: string): void {
  t.is(err.code, grpc.status.INVALID_ARGUMENT, `${what}: ${err.message}`);
  t.is(err.status?.code, 422, what);
  t.is(err.status?.reason, 'Invalid', what);
  t.true(String(err.details).includes(`${field}: Forbidden`), `${what}: ${err.details}`);
}

test.serial('gRPC Create, Update and Patch with __proto__ are INVALID_ARGUMENT (422) and change nothing', async (t) => {
  const before = await target();
  const REF = { resource: 'configmaps', namespace: 'team' };
  // Protobuf map keys: the server keeps "__proto__" as a key, and refuses it.
  const labels = JSON.parse('{"__proto__":"x"}') as Record<string, string>;
  isGrpcInvalid(t, await grpcFailure(bobGrpc.create(REF, { metadata: { name: 'evil', labels } })), 'metadata.labels.__proto__', 'Create labels');
  isGrpcInvalid(t, await grpcFailure(bobGrpc.create(REF, { metadata: { name: 'evil' }, data: { constructor: 'x' } })), 'data.constructor', 'Create data');
  t.is((await api(fx.server, 'GET', `${CM_PATH}/evil`)).status, 404);
  const meta = before.metadata as Record<string, unknown>;
  isGrpcInvalid(t, await grpcFailure(bobGrpc.update(REF, { metadata: { name: 'target', resourceVersion: meta.resourceVersion as string, annotations: JSON.parse('{"__proto__":"x"}') }, data: { a: '1' } })), 'metadata.annotations.__proto__', 'Update');
  const patches: { type: PatchKind; patch: unknown; field: string }[] = [
    { type: 'JSON_PATCH', patch: [{ op: 'add', path: '/__proto__/apiGroups', value: ['*'] }], field: '__proto__' },
    { type: 'JSON_PATCH', patch: [{ op: 'add', path: '/constructor/prototype/apiGroups', value: ['*'] }], field: 'constructor' },
    { type: 'JSON_PATCH', patch: [{ op: 'copy', from: '/metadata/__proto__', path: '/data/x' }], field: 'metadata.__proto__' },
    { type: 'JSON_MERGE_PATCH', patch: JSON.parse('{"__proto__":{"apiGroups":["*"]}}'), field: '__proto__' },
    { type: 'JSON_MERGE_PATCH', patch: JSON.parse('{"metadata":{"labels":{"__proto__":{"apiGroups":["*"]}}}}'), field: 'metadata.labels.__proto__' },
    { type: 'STRATEGIC_MERGE_PATCH', patch: JSON.parse('{"metadata":{"__proto__":{"apiGroups":["*"]}}}'), field: 'metadata.__proto__' },
    { type: 'STRATEGIC_MERGE_PATCH', patch: { constructor: { prototype: { polluted: 'yes' } } }, field: 'constructor' },
  ];
  for (const { type, patch, field } of patches) {
    isGrpcInvalid(t, await grpcFailure(bobGrpc.patch(REF, 'target', type, patch)), field, `${type} ${JSON.stringify(patch)}`);
  }
  await serverIsSound(t, before);
});

test.serial('ordinary writes by the same user still work', async (t) => {
  const r = await bob('PATCH', `${CM_PATH}/target`, '{"data":{"b":"2"}}', MERGE);
  t.is(r.status, 200, r.text);
  t.is(r.body.data.b, '2');
  const j = await bob('PATCH', `${CM_PATH}/target`, JSON.stringify([{ op: 'remove', path: '/data/b' }]), JSON_PATCH);
  t.is(j.status, 200, j.text);
  t.deepEqual(j.body.data, { a: '1' });
  const g = await bobGrpc.patch({ resource: 'configmaps', namespace: 'team' }, 'target', 'STRATEGIC_MERGE_PATCH', { data: { c: '3' } });
  t.is((g.data as Record<string, string>).c, '3');
});
