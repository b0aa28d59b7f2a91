// kubectl 1.27 with validation on (no --validate=false): it fetches
// GET /openapi/v2 as gnostic protobuf for its schema, checks in the OpenAPI
// documents that the server supports the fieldValidation query parameter,
// and then sends fieldValidation=Strict, so an unknown field is rejected by
// the server ("strict decoding error"). The v2 document itself is also read
// by `explain --output=plaintext-openapiv2` and served as JSON.
import { execFile } from 'node:child_process';
import test from 'ava';
import { OPENAPI_V2_PROTOBUF_TYPE, openApiV2DocumentType } from '../src/http/openapi_v2.js';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.27';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

function kubectl(args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, args, { env: { ...process.env, KUBECONFIG: fx.server.kubeconfigPath, HOME: fx.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

const deployment = (name: string, extraSpec = '') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: default
  labels: {tier: web}
spec:
  replicas: 2
${extraSpec}  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - name: main
        image: busybox:1.36
        ports: [{containerPort: 80}]
        env: [{name: A, value: "v"}]
        resources: {limits: {cpu: 100m, memory: 64Mi}}
`;

test.serial('GET /openapi/v2 as gnostic protobuf and as JSON', async (t) => {
  const pb = await new Promise<Buffer>((resolve, reject) => {
    import('node:https').then(({ request }) => {
      const req = request(new URL('/openapi/v2', fx.server.url), { headers: { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' }, ca: fx.server.pki.caCert, cert: fx.server.pki.adminCert, key: fx.server.pki.adminKey }, (res) => {
        t.is(res.statusCode, 200);
        t.is(res.headers['content-type'], OPENAPI_V2_PROTOBUF_TYPE);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      });
      req.on('error', reject);
      req.end();
    }, reject);
  });
  const T = openApiV2DocumentType();
  const doc = T.toObject(T.decode(pb), { defaults: false }) as { swagger: string; definitions: { additional_properties: { name: string; value: { vendor_extension?: { name: string; value: { yaml: string } }[] } }[] }; paths: { path: { name: string }[] } };
  t.is(doc.swagger, '2.0');
  const dep = doc.definitions.additional_properties.find((d) => d.name === 'io.k8s.api.apps.v1.Deployment');
  t.truthy(dep);
  t.regex(dep!.value.vendor_extension!.find((e) => e.name === 'x-kubernetes-group-version-kind')!.value.yaml, /group: apps\s+version: v1\s+kind: Deployment/);
  t.true(doc.paths.path.some((p) => p.name === '/apis/apps/v1/namespaces/{namespace}/deployments/{name}'));

  const json = await api(fx.server, 'GET', '/openapi/v2');
  t.is(json.status, 200);
  t.is(json.body.swagger, '2.0');
  const patch = json.body.paths['/api/v1/namespaces/{namespace}/pods/{name}'].patch;
  t.deepEqual(patch['x-kubernetes-group-version-kind'], { group: '', version: 'v1', kind: 'Pod' });
  t.true(patch.parameters.some((p: { name: string; in: string }) => p.name === 'fieldValidation' && p.in === 'query'));
  // As upstream's document: kind is a string described with TypeMeta's text.
  t.deepEqual(json.body.definitions['io.k8s.api.core.v1.Pod'].properties.kind, {
    description: 'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
    type: 'string',
  });
  t.true(json.body.definitions['io.k8s.api.core.v1.Pod'].properties.spec.$ref === '#/definitions/io.k8s.api.core.v1.PodSpec');
});

test.serial('kubectl 1.27 apply -f without --validate=false, then an unknown field is rejected', async (t) => {
  const first = await kubectl(['apply', '-f', '-', '-v=6'], deployment('v27'));
  t.is(first.code, 0, first.err);
  t.regex(first.out, /deployment.apps\/v27 created/);
  t.regex(first.err, /GET \S+\/openapi\/v2\S* 200 OK/);
  t.regex(first.err, /POST \S+\/deployments\?\S*fieldValidation=Strict\S* 201 Created/);
  t.is(JSON.parse((await kubectl(['get', 'deploy', 'v27', '-o', 'json'])).out).spec.template.spec.containers[0].resources.limits.cpu, '100m');

  const changed = await kubectl(['apply', '-f', '-'], deployment('v27').replace('replicas: 2', 'replicas: 3'));
  t.is(changed.code, 0, changed.err);
  t.regex(changed.out, /deployment.apps\/v27 configured/);
  t.is(JSON.parse((await kubectl(['get', 'deploy', 'v27', '-o', 'json'])).out).spec.replicas, 3);

  // 1.27 finds fieldValidation among the PATCH parameters in the OpenAPI documents, so it leaves
  // the check to the server (fieldValidation=Strict) instead of validating on the client.
  const bad = await kubectl(['create', '-f', '-'], deployment('v27-bad', '  bogusField: 1\n'));
  t.not(bad.code, 0);
  t.regex(bad.err, /Error from server \(BadRequest\): error when creating "STDIN": strict decoding error: unknown field "spec.bogusField"/);
  const missing = await kubectl(['get', 'deploy', 'v27-bad']);
  t.regex(missing.err, /NotFound/);

  const badApply = await kubectl(['apply', '-f', '-'], deployment('v27', '  bogusField: 1\n'));
  t.not(badApply.code, 0);
  t.regex(badApply.err, /strict decoding error: unknown field "spec.bogusField"/);
  t.is(JSON.parse((await kubectl(['get', 'deploy', 'v27', '-o', 'json'])).out).spec.replicas, 2 + 1);
});

test.serial('kubectl 1.27 explain reads the OpenAPI v2 protobuf document', async (t) => {
  const r = await kubectl(['explain', 'deployment.spec.replicas', '--output=plaintext-openapiv2']);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /KIND:\s+Deployment\s+VERSION:\s+apps\/v1\s+FIELD:\s+replicas <integer>/);
  const containers = await kubectl(['explain', 'pod.spec.containers', '--output=plaintext-openapiv2']);
  t.is(containers.code, 0, containers.err);
  t.regex(containers.out, /containers <\[\]Object>[\s\S]*image\s+<string>/);
  const nope = await kubectl(['explain', 'deployment.spec.bogusField', '--output=plaintext-openapiv2']);
  t.not(nope.code, 0);
  t.regex(nope.err, /field "bogusField" does not exist/);
});
