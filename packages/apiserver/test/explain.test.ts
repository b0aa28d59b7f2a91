// kubectl explain prints upstream's field documentation: the proto comments
// carried into the OpenAPI v3 (kubectl 1.33) and v2 (kubectl 1.27) documents
// as descriptions (a described reference as allOf [$ref] in v3, $ref beside
// the description in v2, as upstream's documents).
import { execFile } from 'node:child_process';
import test from 'ava';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const CONTAINERS = 'List of containers belonging to the pod. Containers cannot currently be added or removed. There must be at least one container in a Pod. Cannot be updated.';
let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

function kubectl(bin: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { env: { ...process.env, KUBECONFIG: fx.server.kubeconfigPath, HOME: fx.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}
const flat = (s: string): string => s.replace(/\s+/g, ' ');

test('OpenAPI v3 and v2 carry field descriptions', async (t) => {
  const v3 = await api(fx.server, 'GET', '/openapi/v3/api/v1');
  t.is(v3.status, 200);
  const schemas = v3.body.components.schemas;
  const podSpec = schemas['io.k8s.api.core.v1.PodSpec'];
  t.is(podSpec.properties.containers.description, CONTAINERS);
  t.is(podSpec.properties.containers.type, 'array');
  const pod = schemas['io.k8s.api.core.v1.Pod'];
  t.deepEqual(pod.properties.metadata.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }]);
  t.is(pod.properties.metadata.description, "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata");
  t.regex(schemas['io.k8s.api.core.v1.Container'].properties.image.description, /^Docker image name\. More info: https:\/\/kubernetes\.io\/docs\/concepts\/containers\/images/);
  const v2 = await api(fx.server, 'GET', '/openapi/v2');
  t.is(v2.status, 200);
  const defs = v2.body.definitions;
  t.is(defs['io.k8s.api.core.v1.PodSpec'].properties.containers.description, CONTAINERS);
  t.deepEqual(defs['io.k8s.api.core.v1.Pod'].properties.metadata, { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', description: "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata" });
  // mkube's implementation notes in the proto files are not documentation.
  t.false(JSON.stringify(v3.body).includes('mkube:'));
  t.false(JSON.stringify(v3.body).includes('JSON inlines'));
});

for (const v of ['kubectl.1.27', 'kubectl.1.33']) {
  test.serial(`${v} explain pods.spec.containers prints upstream's descriptions`, async (t) => {
    const r = await kubectl(`${BIN}/${v}`, ['explain', 'pods.spec.containers']);
    t.is(r.code, 0, r.err);
    t.true(flat(r.out).includes(CONTAINERS), r.out);
    t.regex(r.out, /FIELDS:/);
    t.true(flat(r.out).includes('Docker image name. More info: https://kubernetes.io/docs/concepts/containers/images'), r.out);
    const ports = await kubectl(`${BIN}/${v}`, ['explain', 'deployment.spec.replicas']);
    t.is(ports.code, 0, ports.err);
    t.true(flat(ports.out).includes('Number of desired pods. This is a pointer to distinguish between explicit zero and not specified. Defaults to 1.'), ports.out);
    const svc = await kubectl(`${BIN}/${v}`, ['explain', 'apiservices.spec.groupPriorityMinimum']);
    t.is(svc.code, 0, svc.err);
    t.true(flat(svc.out).includes('GroupPriorityMinimum is the priority this group should have at least.'), svc.out);
  });
}
