// The audit log against a real API server on a real etcd 3.4, over HTTPS: a
// policy with several rules (first match wins), audit.k8s.io/v1 Event lines
// in the file, Secrets at Metadata without any body, ConfigMaps at
// RequestResponse with both, None dropping events, the Audit-ID header,
// impersonation in impersonatedUser, watches' ResponseStarted stage, rotation.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AuditSink } from '../src/http/audit.js';
import { AuditPolicyError, evaluatePolicy, parseAuditPolicy } from '../src/http/audit_policy.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
# Discovery and health: not logged.
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/api", "/api/*", "/apis", "/apis/*", "/openapi/*"]
- level: None
  resources: [{group: "", resources: ["events"]}]
# Bob's requests are not logged at all.
- level: None
  users: ["bob"]
# Secret bodies never: metadata only, and not when the request arrives.
- level: Metadata
  resources: [{group: "", resources: ["secrets"]}]
  omitStages: ["RequestReceived"]
- level: RequestResponse
  resources: [{group: "", resources: ["configmaps"]}]
  omitManagedFields: true
- level: Request
  resources: [{group: "", resources: ["pods"]}]
  namespaces: ["audited"]
- level: Metadata
`;

let fx: Fixture;
let dir: string;
let logPath: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mkube-audit-test-'));
  logPath = join(dir, 'audit.log');
  await writeFile(join(dir, 'policy.yaml'), POLICY);
  fx = await startFixture({ auditLogPath: logPath, auditPolicyFile: join(dir, 'policy.yaml') });
  const ns = await api(fx.server, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'audited' } });
  if (ns.status !== 201) throw new Error(ns.text);
});
test.after.always(async () => {
  await fx?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Event = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function allEvents(): Promise<Event[]> {
  const text = await readFile(logPath, 'utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
}

/** Waits until the log holds `stage` for `auditID` (the event is written as the response finishes). */
async function eventsFor(auditID: string, stage = 'ResponseComplete'): Promise<Event[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const evs = (await allEvents()).filter((e) => e.auditID === auditID);
    if (evs.some((e) => e.stage === stage) || Date.now() > deadline) return evs;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One HTTPS request with a bearer token and extra headers. */
function call(method: string, path: string, token: string, headers: Record<string, string> = {}, body?: unknown): Promise<Reply> {
  return api(fx.server, method, path, body, { token, headers });
}

const auditId = (r: Reply) => String(r.headers['audit-id'] ?? '');
const MICRO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

test.serial('a Secret at Metadata: events with objectRef and status, and no secret data anywhere in the file', async (t) => {
  const secretValue = 'hunter2-very-secret-value';
  const b64 = Buffer.from(secretValue).toString('base64');
  const created = await api(fx.server, 'POST', '/api/v1/namespaces/audited/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1' }, data: { password: b64 }, stringData: { token: `${secretValue}-2` } });
  t.is(created.status, 201, created.text);
  const got = await api(fx.server, 'GET', '/api/v1/namespaces/audited/secrets/s1');
  t.is(got.status, 200);
  const listed = await api(fx.server, 'GET', '/api/v1/namespaces/audited/secrets');
  const updated = await api(fx.server, 'PUT', '/api/v1/namespaces/audited/secrets/s1', { ...got.body, data: { password: b64, more: b64 } });
  t.is(updated.status, 200, updated.text);
  await eventsFor(auditId(listed));
  const evs = await eventsFor(auditId(updated));
  const create = (await eventsFor(auditId(created))).filter((e) => e.stage === 'ResponseComplete');
  t.is(create.length, 1);
  const ev = create[0]!;
  t.is(ev.kind, 'Event');
  t.is(ev.apiVersion, 'audit.k8s.io/v1');
  t.is(ev.level, 'Metadata');
  t.is(ev.verb, 'create');
  t.is(ev.requestURI, '/api/v1/namespaces/audited/secrets');
  t.deepEqual(ev.objectRef, { resource: 'secrets', namespace: 'audited', name: 's1', apiVersion: 'v1' });
  t.deepEqual(ev.responseStatus, { metadata: {}, code: 201 });
  t.deepEqual(ev.user, { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] });
  t.deepEqual(ev.sourceIPs, ['127.0.0.1']);
  t.regex(ev.requestReceivedTimestamp, MICRO);
  t.regex(ev.stageTimestamp, MICRO);
  t.is(ev.annotations['authorization.k8s.io/decision'], 'allow');
  t.false('requestObject' in ev);
  t.false('responseObject' in ev);
  t.false((await eventsFor(auditId(created))).some((e) => e.stage === 'RequestReceived'), 'omitStages');
  t.true(evs.some((e) => e.verb === 'update' && e.objectRef.name === 's1'));
  const file = await readFile(logPath, 'utf8');
  t.true(file.includes('"secrets"'));
  t.false(file.includes(b64));
  t.false(file.includes(secretValue));
  t.false(file.includes(Buffer.from(`${secretValue}-2`).toString('base64')));
});

test.serial('a ConfigMap at RequestResponse: requestObject and responseObject, managed fields omitted; the Audit-ID header matches', async (t) => {
  const created = await api(fx.server, 'POST', '/api/v1/namespaces/audited/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm1' }, data: { k: 'v' } });
  t.is(created.status, 201);
  t.truthy(created.body.metadata.managedFields, 'the object has managed fields; the log drops them');
  const id = auditId(created);
  t.regex(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const evs = await eventsFor(id);
  t.deepEqual(evs.map((e) => e.stage), ['RequestReceived', 'ResponseComplete']);
  const [received, done] = evs as [Event, Event];
  t.is(received.level, 'RequestResponse');
  t.false('responseStatus' in received);
  t.is(done.requestObject.data.k, 'v');
  t.is(done.requestObject.metadata.name, 'cm1');
  t.is(done.responseObject.metadata.uid, created.body.metadata.uid);
  t.is(done.responseObject.data.k, 'v');
  t.false('managedFields' in done.responseObject.metadata);
  t.is(done.responseStatus.code, 201);
  t.is(received.requestReceivedTimestamp, done.requestReceivedTimestamp);
  // A patch logs the patch itself as the request object.
  const patched = await api(fx.server, 'PATCH', '/api/v1/namespaces/audited/configmaps/cm1', { data: { k: 'w' } }, { contentType: 'application/merge-patch+json' });
  t.is(patched.status, 200);
  const p = (await eventsFor(auditId(patched))).find((e) => e.stage === 'ResponseComplete')!;
  t.deepEqual(p.requestObject, { data: { k: 'w' } });
  t.is(p.verb, 'patch');
  t.is(p.responseObject.data.k, 'w');
  // A client-chosen Audit-ID is kept.
  const mine = await call('GET', '/api/v1/namespaces/audited/configmaps/cm1', 'alice-token', { 'Audit-ID': 'my-audit-id-1' });
  t.is(mine.headers['audit-id'], 'my-audit-id-1');
  t.true((await eventsFor('my-audit-id-1')).length > 0);
});

test.serial('None drops events: discovery, events, and every request of bob', async (t) => {
  const version = await api(fx.server, 'GET', '/version');
  const bobs = await call('GET', '/api/v1/namespaces/audited/configmaps', 'bob-token');
  t.is(bobs.status, 403);
  const ev = await api(fx.server, 'POST', '/api/v1/namespaces/audited/events', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'audited' }, reason: 'R', message: 'm' });
  t.is(ev.status, 201, ev.text);
  // A later logged request proves the earlier ones had their chance to be written.
  const marker = await api(fx.server, 'GET', '/api/v1/namespaces/audited/configmaps/cm1');
  t.true((await eventsFor(auditId(marker))).length > 0);
  const all = await allEvents();
  for (const r of [version, bobs, ev]) {
    t.truthy(auditId(r), 'the header is sent even when nothing is logged');
    t.false(all.some((e) => e.auditID === auditId(r)));
  }
  t.false(all.some((e) => e.user?.username === 'bob'));
});

test.serial('Request level: the request body but no response body; a failed request has its Status', async (t) => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
  const created = await api(fx.server, 'POST', '/api/v1/namespaces/audited/pods', pod);
  t.is(created.status, 201, created.text);
  const done = (await eventsFor(auditId(created))).find((e) => e.stage === 'ResponseComplete')!;
  t.is(done.level, 'Request');
  t.is(done.requestObject.spec.containers[0].image, 'busybox');
  t.false('responseObject' in done);
  const again = await api(fx.server, 'POST', '/api/v1/namespaces/audited/pods', pod);
  t.is(again.status, 409);
  const conflict = (await eventsFor(auditId(again))).find((e) => e.stage === 'ResponseComplete')!;
  t.deepEqual(conflict.responseStatus, { metadata: {}, status: 'Failure', message: 'pods "p1" already exists', reason: 'AlreadyExists', details: { name: 'p1', kind: 'pods' }, code: 409 });
  const denied = await call('GET', '/api/v1/namespaces/audited/secrets', 'alice-token');
  t.is(denied.status, 403);
  const d = (await eventsFor(auditId(denied))).find((e) => e.stage === 'ResponseComplete')!;
  t.is(d.responseStatus.code, 403);
  t.is(d.responseStatus.reason, 'Forbidden');
  t.is(d.annotations['authorization.k8s.io/decision'], 'forbid');
  t.deepEqual(d.user, { username: 'alice', uid: '1001', groups: ['devs', 'system:authenticated'] });
});

test.serial('impersonation is recorded in impersonatedUser; the policy sees the authenticated user', async (t) => {
  const r = await api(fx.server, 'GET', '/api/v1/namespaces/audited/configmaps', undefined, {});
  t.is(r.status, 200);
  const imp = await new Promise<Reply>((resolve, reject) => {
    const req = request(new URL('/api/v1/namespaces/audited/configmaps', fx.server.url), {
      method: 'GET', headers: { Accept: 'application/json', 'Impersonate-User': 'carol', 'Impersonate-Group': 'ops' },
      ca: fx.server.pki.caCert, cert: fx.server.pki.adminCert, key: fx.server.pki.adminKey,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), text: '' }));
    });
    req.on('error', reject);
    req.end();
  });
  t.is(imp.status, 403);
  t.is(imp.body.message, 'configmaps is forbidden: User "carol" cannot list resource "configmaps" in API group "" in the namespace "audited"');
  const done = (await eventsFor(auditId(imp))).find((e) => e.stage === 'ResponseComplete')!;
  t.is(done.user.username, 'kubernetes-admin');
  t.deepEqual(done.impersonatedUser, { username: 'carol', groups: ['ops', 'system:authenticated'] });
  t.is(done.level, 'RequestResponse');
  t.is(done.annotations['authorization.k8s.io/decision'], 'forbid');
});

test.serial('a watch logs ResponseStarted, then ResponseComplete when it ends', async (t) => {
  const w = await api(fx.server, 'GET', '/api/v1/namespaces/audited/configmaps?watch=true&timeoutSeconds=1');
  t.is(w.status, 200);
  const evs = await eventsFor(auditId(w));
  t.deepEqual(evs.map((e) => e.stage), ['RequestReceived', 'ResponseStarted', 'ResponseComplete']);
  t.is(evs[1]!.verb, 'watch');
  t.false('responseObject' in evs[2]!, 'watch events are not response objects');
});

test('the policy: first match wins, resource forms, namespaces, groups, URLs, omitStages; bad policies are refused', (t) => {
  const p = parseAuditPolicy(`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","omitStages":["RequestReceived"],"rules":[
    {"level":"None","userGroups":["system:nodes"]},
    {"level":"RequestResponse","resources":[{"group":"apps","resources":["deployments/*"]}]},
    {"level":"Request","resources":[{"group":"","resources":["*/status"]}]},
    {"level":"Request","resources":[{"group":"","resources":["configmaps"],"resourceNames":["special"]}]},
    {"level":"Metadata","namespaces":["kube-system"]},
    {"level":"Metadata","nonResourceURLs":["/metrics"],"omitStages":["ResponseComplete"]}
  ]}`);
  const a = (over: Partial<Parameters<typeof evaluatePolicy>[1]>) => ({ user: 'u', groups: [], verb: 'get', resourceRequest: true, apiGroup: '', resource: 'pods', subresource: '', namespace: 'default', name: 'x', path: '/', ...over });
  t.is(evaluatePolicy(p, a({ groups: ['system:nodes'], namespace: 'kube-system' })).level, 'None');
  t.is(evaluatePolicy(p, a({ apiGroup: 'apps', resource: 'deployments', subresource: 'scale' })).level, 'RequestResponse');
  t.is(evaluatePolicy(p, a({ apiGroup: 'apps', resource: 'deployments' })).level, 'RequestResponse', '"res/*" matches the resource itself too, as upstream');
  t.is(evaluatePolicy(p, a({ apiGroup: 'apps', resource: 'replicasets', subresource: 'scale' })).level, 'None');
  t.is(evaluatePolicy(p, a({ subresource: 'status' })).level, 'Request');
  t.is(evaluatePolicy(p, a({ resource: 'configmaps', name: 'special' })).level, 'Request');
  t.is(evaluatePolicy(p, a({ resource: 'configmaps', name: 'other' })).level, 'None');
  t.is(evaluatePolicy(p, a({ resource: 'configmaps', namespace: 'kube-system' })).level, 'Metadata');
  const m = evaluatePolicy(p, a({ resourceRequest: false, path: '/metrics' }));
  t.is(m.level, 'Metadata');
  t.deepEqual([...m.omitStages].sort(), ['RequestReceived', 'ResponseComplete']);
  t.is(evaluatePolicy(p, a({ resourceRequest: false, path: '/healthz' })).level, 'None');
  t.throws(() => parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n'), { instanceOf: AuditPolicyError, message: /rules\[0\]\.level: Unsupported value: "Everything"/ });
  t.throws(() => parseAuditPolicy('apiVersion: v1\nkind: ConfigMap\n'), { instanceOf: AuditPolicyError });
  t.throws(() => parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  nonResourceURLs: ["/x"]\n  namespaces: ["a"]\n'), { message: /cannot apply to both/ });
});

test('the file sink rotates at --audit-log-maxsize and keeps --audit-log-maxbackup files', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'mkube-audit-rotate-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const sink = new AuditSink({ path: join(d, 'audit.log'), maxSizeMB: 1, maxBackups: 2 });
  const line = 'x'.repeat(100 * 1024);
  for (let i = 0; i < 45; i++) sink.write(line); // ~4.5 MB: four rotations
  sink.close();
  const files = (await readdir(d)).sort();
  t.is(files.length, 3, files.join(','));
  t.true(files.includes('audit.log'));
  for (const f of files) t.true((await readFile(join(d, f))).length <= 1024 * 1024);
});
