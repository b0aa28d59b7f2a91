// The real kubectl (1.27, 1.33 and the /usr/bin/kubectl dispatcher) against
// an in-process API server on a real etcd 3.4, with the generated
// admin.kubeconfig and a token user from the token file.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { kubeconfig } from '../src/auth/pki.js';
import { startFixture, type Fixture } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const VERSIONS = [`${BIN}/kubectl.1.27`, `${BIN}/kubectl.1.33`, '/usr/bin/kubectl'];

let fx: Fixture;
let aliceConfig: string;
test.before(async () => {
  fx = await startFixture();
  aliceConfig = join(fx.dir, 'alice.kubeconfig');
  await writeFile(aliceConfig, kubeconfig(fx.server.url, fx.server.pki.caCert, 'alice', { token: 'alice-token' }));
});
test.after.always(async () => {
  await fx?.stop();
});

function kubectl(bin: string, args: string[], input?: string, config = fx.server.kubeconfigPath): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { env: { ...process.env, KUBECONFIG: config, HOME: fx.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

const deployment = (ns: string, ports: number[], env: string[]) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: ${ns}
  labels: {tier: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: main
        image: busybox:1.36
        ports: [${ports.map((p) => `{containerPort: ${p}}`).join(', ')}]
        env: [${env.map((e) => `{name: ${e}, value: "v"}`).join(', ')}]
`;

for (const bin of VERSIONS) {
  const v = bin.split('/').pop()!;
  const ns = `ns-${v.replace(/\./g, '-')}`;
  test.serial(`${v}: version, api-resources, create, get, apply, patch, scale, delete, watch, errors`, async (t) => {
    const k = (args: string[], input?: string) => kubectl(bin, args, input);
    const ok = async (args: string[], input?: string) => {
      const r = await k(args, input);
      t.is(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`);
      return r.out;
    };
    t.regex(await ok(["version"]), /Server Version: (version.Info\{.*GitVersion:"v1\.31\.0"|v1\.31\.0)/);
    const res = await ok(['api-resources']);
    t.regex(res, /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
    await ok(['create', 'namespace', ns]);
    await ok(['-n', ns, 'create', 'deployment', 'web', '--image=nginx:1.25', '--port=80']);
    await ok(['-n', ns, 'create', 'configmap', 'cfg', '--from-literal=a=b']);
    await ok(['-n', ns, 'create', 'secret', 'generic', 'sec', '--from-literal=x=y']);
    await ok(['-n', ns, 'create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
    t.regex(await ok(['-n', ns, 'get', 'deploy', '-o', 'wide']), /NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nweb\s+0\/1\s+0\s+0\s+\S+\s+nginx\s+nginx:1\.25\s+app=web/);
    t.regex(await ok(['-n', ns, 'get', 'svc']), /web\s+ClusterIP\s+10\.213\.200\.\d+\s+<none>\s+80\/TCP/);
    t.regex(await ok(['-n', ns, 'get', 'cm', 'cfg', '-o', 'yaml']), /a: b/);
    t.is(JSON.parse(await ok(['-n', ns, 'get', 'secret', 'sec', '-o', 'json'])).data.x, 'eQ==');
    t.regex(await ok(['get', 'ns', '--show-labels']), new RegExp(`${ns}\\s+Active\\s+\\S+\\s+kubernetes.io/metadata.name=${ns}|${ns}\\s+Active\\s+\\S+\\s+<none>`));
    t.regex(await ok(['get', 'deploy', '-A']), new RegExp(`${ns}\\s+web\\s+0/1`));
    t.regex(await ok(['-n', ns, 'get', 'deploy', '-l', 'app=web']), /web/);
    // Client-side apply, then a changed manifest without one port and one env var.
    const nv = v === 'kubectl.1.27' ? ['--validate=false'] : [];
    const applyArgs = v === 'kubectl.1.27' ? ['apply', '--validate=false', '-f', '-'] : ['apply', '-f', '-'];
    t.regex(await ok(applyArgs, deployment(ns, [80, 8080], ['A', 'B'])), /created/);
    t.regex(await ok(applyArgs, deployment(ns, [80], ['A'])), /configured/);
    const d = JSON.parse(await ok(['-n', ns, 'get', 'deploy', 'app', '-o', 'json']));
    t.deepEqual(d.spec.template.spec.containers[0].ports.map((p: { containerPort: number }) => p.containerPort), [80]);
    t.deepEqual(d.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name), ['A']);
    await ok(['-n', ns, 'scale', 'deploy', 'app', '--replicas=3']);
    await ok(['-n', ns, 'label', 'deploy', 'app', 'team=blue']);
    await ok(['-n', ns, 'annotate', 'deploy', 'app', 'note=hello']);
    await ok(['-n', ns, 'patch', 'deploy', 'app', '--type', 'merge', '-p', '{"spec":{"minReadySeconds":5}}']);
    await ok(['-n', ns, 'patch', 'deploy', 'app', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/revisionHistoryLimit","value":4}]']);
    await ok(['-n', ns, 'patch', 'deploy', 'app', '--type', 'strategic', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"main","env":[{"name":"C","value":"3"}]}]}}}}']);
    await ok(['-n', ns, 'set', 'image', 'deploy/app', 'main=busybox:1.37']);
    const d2 = JSON.parse(await ok(['-n', ns, 'get', 'deploy', 'app', '-o', 'json']));
    t.is(d2.spec.replicas, 3);
    t.is(d2.metadata.labels.team, 'blue');
    t.is(d2.metadata.annotations.note, 'hello');
    t.is(d2.spec.minReadySeconds, 5);
    t.is(d2.spec.revisionHistoryLimit, 4);
    t.deepEqual(d2.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name), ['A', 'C']);
    t.is(d2.spec.template.spec.containers[0].image, 'busybox:1.37');
    // Server-side apply: create, then a conflict with another manager, then force.
    const cmYaml = (val: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: ${ns}}\ndata: {k: "${val}"}\n`;
    await ok(['apply', ...nv, '--server-side', '-f', '-'], cmYaml('1'));
    const conflict = await k(['apply', ...nv, '--server-side', '--field-manager=other', '-f', '-'], cmYaml('2'));
    t.not(conflict.code, 0);
    t.regex(conflict.err, /conflict with "kubectl" using v1: \.data\.k/);
    await ok(['apply', ...nv, '--server-side', '--field-manager=other', '--force-conflicts', '-f', '-'], cmYaml('2'));
    t.is(JSON.parse(await ok(['-n', ns, 'get', 'cm', 'ssa', '-o', 'json'])).data.k, '2');
    // describe, watch.
    await ok(['-n', ns, 'run', 'p1', '--image=busybox', '--labels=app=p']);
    t.regex(await ok(['-n', ns, 'describe', 'pod', 'p1']), /Name:\s+p1[\s\S]*Status:\s+Pending/);
    t.regex(await ok(['-n', ns, 'get', 'pods', '-o', 'wide']), /NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\np1\s+0\/1\s+Pending/);
    const watching = k(['-n', ns, 'get', 'pods', '-w', '--request-timeout=4s']);
    await new Promise((r) => setTimeout(r, 1500));
    await ok(['-n', ns, 'label', 'pod', 'p1', 'seen=yes']);
    const w = await watching;
    t.true(w.out.split('\n').filter((l) => l.startsWith('p1')).length >= 2, w.out);
    // Errors.
    const unknown = await k(['get', 'foos']);
    t.regex(unknown.err, /the server doesn't have a resource type "foos"/);
    const invalid = await k(['-n', ns, 'create', ...nv, '-f', '-'], `apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers: [{name: c}]\n`);
    t.regex(invalid.err, /The Pod "bad" is invalid: spec.containers\[0\].image: Required value/);
    const exists = await k(['-n', ns, 'create', 'configmap', 'cfg']);
    t.regex(exists.err, /configmaps "cfg" already exists/);
    const forbidden = await kubectl(bin, ['-n', ns, 'get', 'pods'], undefined, aliceConfig);
    t.regex(forbidden.err, new RegExp(`pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "${ns}"`));
    // Deletes: by name, -f, -l.
    await ok(['-n', ns, 'delete', 'pod', 'p1', '--wait=false']);
    await ok(['-n', ns, 'delete', '-f', '-'], deployment(ns, [80], ['A']));
    await ok(['-n', ns, 'delete', 'deploy', '-l', 'app=web']);
    t.notRegex(await ok(['-n', ns, 'get', 'deploy']), /web|app/);
  });
}
