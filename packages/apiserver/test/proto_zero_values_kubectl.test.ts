// Zero values on the protobuf wire through the real API server: a DaemonSet, a Deployment and a
// StatefulSet fetched as application/vnd.kubernetes.protobuf carry upstream's always-written non-pointer
// fields (status counters 0, metadata's empty strings) and decode to the same JSON as the JSON GET.
// kubectl 1.33: `get -o json` (it asks for JSON) prints the same object; `describe` reads the object
// through client-go's typed client, which asks for and decodes protobuf, and prints the zero counters.
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import test from 'ava';
import protobuf from 'protobufjs';
import { decodeEnvelope, decodeObject, messageType } from '@mkube/api';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const NS = 'pbzero';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
  await api(fx.server, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
});
test.after.always(async () => {
  await fx?.stop();
});

function getProtobuf(path: string): Promise<{ status: number; contentType: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = fx.server;
    const req = request(new URL(path, s.url), { headers: { Accept: 'application/vnd.kubernetes.protobuf' }, ca: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function kubectl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, args, { env: { ...process.env, KUBECONFIG: fx.server.kubeconfigPath, HOME: fx.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

/** Field numbers present at the top level of protobuf bytes, with the bytes of length-delimited ones. */
function fieldsOf(bytes: Uint8Array): Map<number, Uint8Array | number> {
  const r = protobuf.Reader.create(bytes);
  const out = new Map<number, Uint8Array | number>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    if ((tag & 7) === 0) out.set(tag >>> 3, Number(r.int64()));
    else if ((tag & 7) === 2) out.set(tag >>> 3, r.bytes());
    else throw new Error(`wire type ${tag & 7}`);
  }
  return out;
}

const template = { metadata: { labels: { app: 'z' } }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } };
const cases = [
  {
    path: `/apis/apps/v1/namespaces/${NS}/daemonsets`,
    resource: 'daemonset',
    type: 'k8s.io.api.apps.v1.DaemonSetStatus',
    object: { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'ds' }, spec: { selector: { matchLabels: { app: 'z' } }, template } },
    // currentNumberScheduled..numberUnavailable: int32/int64, all non-pointer; collisionCount (*int32) absent
    statusFields: [1, 2, 3, 4, 5, 6, 7, 8],
    describe: /Desired Number of Nodes Scheduled: 0\nCurrent Number of Nodes Scheduled: 0\nNumber of Nodes Scheduled with Up-to-date Pods: 0\nNumber of Nodes Scheduled with Available Pods: 0\nNumber of Nodes Misscheduled: 0/,
  },
  {
    path: `/apis/apps/v1/namespaces/${NS}/deployments`,
    resource: 'deployment',
    type: 'k8s.io.api.apps.v1.DeploymentStatus',
    object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 0, paused: false, selector: { matchLabels: { app: 'z' } }, template } },
    // observedGeneration, replicas, updatedReplicas, availableReplicas, unavailableReplicas, readyReplicas
    statusFields: [1, 2, 3, 4, 5, 7],
    describe: /Replicas:\s+0 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable/,
  },
  {
    path: `/apis/apps/v1/namespaces/${NS}/statefulsets`,
    resource: 'statefulset',
    type: 'k8s.io.api.apps.v1.StatefulSetStatus',
    object: { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's' }, spec: { serviceName: 's', selector: { matchLabels: { app: 'z' } }, template } },
    // observedGeneration, replicas, ready/current/updatedReplicas, current/updateRevision, availableReplicas
    statusFields: [1, 2, 3, 4, 5, 6, 7, 11],
    describe: /Replicas:\s+1 desired \| 0 total/,
  },
];

for (const c of cases) {
  test.serial(`${c.object.kind}: protobuf carries the zero non-pointer fields; JSON, protobuf, kubectl 1.33 get -o json and describe (protobuf) agree`, async (t) => {
    const created = await api(fx.server, 'POST', c.path, c.object);
    t.is(created.status, 201, created.text);
    const name = c.object.metadata.name;
    const json = await api(fx.server, 'GET', `${c.path}/${name}`);
    t.is(json.status, 200);

    const pb = await getProtobuf(`${c.path}/${name}`);
    t.is(pb.status, 200);
    t.is(pb.contentType, 'application/vnd.kubernetes.protobuf');
    const top = fieldsOf(decodeEnvelope(pb.bytes).raw);
    t.deepEqual([...top.keys()], [1, 2, 3], 'metadata, spec and status all written');
    const status = fieldsOf(top.get(3) as Uint8Array);
    t.deepEqual([...status.keys()].sort((a, b) => a - b), c.statusFields, `${c.type} fields on the wire`);
    for (const [n, v] of status) {
      const f = messageType(c.type).fieldsById[n]!;
      t.true(v === 0 || (v instanceof Uint8Array && v.length === 0), `${f.name} is zero`);
    }
    const meta = fieldsOf(top.get(1) as Uint8Array);
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) t.true(meta.has(n), `ObjectMeta field ${n} written`);
    t.deepEqual(decodeObject(pb.bytes), json.body, 'the protobuf decodes to the JSON GET');

    const k = await kubectl(['-n', NS, 'get', c.resource, name, '-o', 'json']);
    t.is(k.code, 0, k.err);
    const shown = structuredClone(json.body);
    delete shown.metadata.managedFields; // kubectl hides managedFields by default
    t.deepEqual(JSON.parse(k.out), shown);
    const d = await kubectl(['-n', NS, 'describe', c.resource, name, '-v=8']);
    t.is(d.code, 0, d.err);
    t.regex(d.err, new RegExp(`GET" url="[^"]*${c.path}/${name}" headers=<\\s+Accept: application/vnd\\.kubernetes\\.protobuf`), 'describe asked for protobuf');
    t.regex(d.err, /Content-Type: application\/vnd\.kubernetes\.protobuf/, 'and got it');
    t.regex(d.out, c.describe);
  });
}
