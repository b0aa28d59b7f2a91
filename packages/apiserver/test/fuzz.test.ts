// Bad input, measured (issue 10): a seeded, time-bounded fuzz of the real
// API server (REST over HTTPS and gRPC, on a real etcd 3.4) as an
// authenticated non-admin user who holds bindings in namespace "fuzz" (so
// requests get past authorization and reach decoding). Malformed, deeply
// nested, oversized and type-confused JSON, YAML and protobuf bodies, odd
// query strings and odd paths: every REST answer that is not a success is a
// Kubernetes Status with a 4xx code (never 5xx, never a dropped connection),
// every gRPC failure has a code other than INTERNAL/UNKNOWN and a message;
// afterwards the server serves and the untouched namespace is unchanged.
//
// MKUBE_FUZZ_SEED=<n> replays a run; MKUBE_FUZZ_SECONDS=<s> sets its length.
import { Agent, request } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { seededRandom } from '@mkube/component-base';
import { encodeEnvelope, encodeObject } from '@mkube/api';
import { ResourcesClient, type GrpcApiError } from '../src/grpc/client.js';
import { encodeGrpc } from '../src/grpc/proto.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

const SEED = Number(process.env.MKUBE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SECONDS = Number(process.env.MKUBE_FUZZ_SECONDS ?? 25);

// ---------------------------------------------------------------- seeded randomness

const rnd = seededRandom(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const chance = (p: number) => rnd() < p;
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

// ---------------------------------------------------------------- fixture

let fx: Fixture;
let agent: Agent;
const clients: ResourcesClient[] = [];
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const TOKEN = 'bob-token';

const cm = (name: string, ns = 'fuzz') => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels: { app: 'fuzz' } }, data: { a: '1' } });
const secret = (name: string, ns = 'fuzz') => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, type: 'Opaque', stringData: { p: 'x' } });
const pod = (name: string, ns = 'fuzz') => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'b' }] }] } });
const svc = (name: string, ns = 'fuzz') => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: 'fuzz' }, ports: [{ port: 80, targetPort: 8080 }] } });
const deploy = (name: string, ns = 'fuzz') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
});

interface Kind {
  path: string;
  sample: (name: string, ns?: string) => Record<string, unknown>;
  grpc: { group?: string; version?: string; resource: string };
}
const KINDS: Kind[] = [
  { path: '/api/v1/namespaces/fuzz/configmaps', sample: cm, grpc: { resource: 'configmaps' } },
  { path: '/api/v1/namespaces/fuzz/secrets', sample: secret, grpc: { resource: 'secrets' } },
  { path: '/api/v1/namespaces/fuzz/pods', sample: pod, grpc: { resource: 'pods' } },
  { path: '/api/v1/namespaces/fuzz/services', sample: svc, grpc: { resource: 'services' } },
  { path: '/apis/apps/v1/namespaces/fuzz/deployments', sample: deploy, grpc: { group: 'apps', version: 'v1', resource: 'deployments' } },
];
const UNTOUCHED = ['/api/v1/namespaces/untouched/configmaps', '/api/v1/namespaces/untouched/secrets', '/api/v1/namespaces/untouched/services', '/apis/apps/v1/namespaces/untouched/deployments'];

test.before(async () => {
  fx = await startFixture();
  const s = fx.server;
  agent = new Agent({ keepAlive: true, ca: s.pki.caCert, maxSockets: 8 });
  const must = async (p: Promise<Reply>) => {
    const r = await p;
    if (r.status >= 300) throw new Error(`setup: ${r.status} ${r.text}`);
  };
  for (const ns of ['fuzz', 'untouched']) await must(api(s, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
  await must(
    api(s, 'POST', `${RBAC}/namespaces/fuzz/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'fuzzer' },
      rules: [
        { apiGroups: [''], resources: ['configmaps', 'secrets', 'pods', 'pods/status', 'services', 'services/status'], verbs: ['*'] },
        { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'deployments/status'], verbs: ['*'] },
      ],
    }),
  );
  await must(
    api(s, 'POST', `${RBAC}/namespaces/fuzz/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'fuzzer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'fuzzer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' }],
    }),
  );
  for (const k of KINDS) {
    await must(api(s, 'POST', k.path, k.sample('seed')));
    await must(api(s, 'POST', k.path.replace('/fuzz/', '/untouched/'), k.sample('keep', 'untouched')));
  }
});

test.after.always(async () => {
  for (const c of clients) c.close();
  agent?.destroy();
  await fx?.stop();
});

// ---------------------------------------------------------------- REST plumbing

interface Answer {
  status: number;
  contentType: string;
  text: string;
  streaming: boolean;
}

/** One raw HTTPS request as the fuzzing user; rejects when the connection drops without an answer. */
function send(method: string, path: string, body?: Buffer, contentType?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}`, Accept: 'application/json' };
    if (body) {
      headers['Content-Type'] = contentType ?? 'application/json';
      headers['Content-Length'] = String(body.length);
    }
    const url = new URL(fx.server.url);
    const req = request({ host: url.hostname, port: url.port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      const status = res.statusCode ?? 0;
      // A successful watch streams: its headers are the answer.
      const timer = setTimeout(() => {
        req.destroy();
        resolve({ status, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8'), streaming: true });
      }, 3000);
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8'), streaming: false });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.setTimeout(20_000, () => req.destroy(new Error('no answer in 20 s')));
    req.on('error', reject);
    req.end(body);
  });
}

interface Tally {
  tried: number;
  ok2xx: number;
  rejected4xx: number;
}
const tallies = new Map<string, Tally>();
const problems: string[] = [];

function tally(category: string): Tally {
  let t = tallies.get(category);
  if (!t) tallies.set(category, (t = { tried: 0, ok2xx: 0, rejected4xx: 0 }));
  return t;
}

/** Sends one input and records what is wrong with the answer, if anything. */
async function probe(category: string, method: string, path: string, body?: Buffer, contentType?: string): Promise<void> {
  const t = tally(category);
  t.tried++;
  const what = `${category}: ${method} ${path.slice(0, 200)}${contentType ? ` [${contentType}]` : ''}${body ? ` body ${JSON.stringify(body.subarray(0, 160).toString('latin1'))} (${body.length} bytes)` : ''}`;
  let a: Answer;
  try {
    a = await send(method, path, body, contentType);
  } catch (err) {
    problems.push(`${what} → connection failed: ${(err as Error).message}`);
    return;
  }
  if (a.status >= 200 && a.status < 300) {
    t.ok2xx++;
    return;
  }
  if (a.status >= 500 || a.status < 400) {
    problems.push(`${what} → ${a.status} ${a.text.slice(0, 300)}`);
    return;
  }
  let status: { kind?: string; code?: number; status?: string; message?: string } | undefined;
  try {
    status = JSON.parse(a.text);
  } catch {
    status = undefined;
  }
  if (!a.contentType.startsWith('application/json') || status?.kind !== 'Status' || status.code !== a.status || status.status !== 'Failure' || !status.message) {
    problems.push(`${what} → ${a.status} is not a Kubernetes Status: ${a.contentType} ${a.text.slice(0, 300)}`);
    return;
  }
  t.rejected4xx++;
}

// ---------------------------------------------------------------- generators

const WEIRD_STRINGS = ['', ' ', '\u0000', '\uffff', '\ud800', '💥', 'a'.repeat(300), '../../etc/passwd', '%00', '__proto__', 'constructor', '${x}', '\n\t', '-1', '1e309', 'null', 'true', '0x10', '9'.repeat(40)];
const WEIRD_NUMBERS = [0, -1, 1.5, -0, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER];

function randomScalar(): unknown {
  switch (int(5)) {
    case 0:
      return pick(WEIRD_STRINGS);
    case 1:
      return pick(WEIRD_NUMBERS);
    case 2:
      return chance(0.5);
    case 3:
      return null;
    default:
      return Math.random().toString(36).slice(2, 2 + int(12));
  }
}

function randomValue(depth = 0): unknown {
  if (depth > 4 || chance(0.4)) return randomScalar();
  if (chance(0.5)) return Array.from({ length: int(4) }, () => randomValue(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = int(4); i > 0; i--) o[chance(0.3) ? pick(WEIRD_STRINGS) : Math.random().toString(36).slice(2, 8)] = randomValue(depth + 1);
  return o;
}

/** Replaces a random leaf or subtree of `v` with a value of another type. */
function confuse(v: unknown, depth = 0): unknown {
  if (typeof v !== 'object' || v === null || depth > 6 || chance(0.15)) return randomValue();
  if (Array.isArray(v)) {
    const out = [...v];
    if (out.length === 0 || chance(0.2)) out.push(randomValue());
    else {
      const i = int(out.length);
      out[i] = confuse(out[i], depth + 1);
    }
    return out;
  }
  const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
  const keys = Object.keys(out);
  if (keys.length === 0 || chance(0.15)) out[chance(0.5) ? pick(WEIRD_STRINGS) : 'extra'] = randomValue();
  else {
    const k = pick(keys);
    out[k] = confuse(out[k], depth + 1);
  }
  return out;
}

function nested(depth: number, array: boolean): string {
  return array ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

function malformedJson(valid: string): Buffer {
  switch (int(8)) {
    case 0:
      return Buffer.from(valid.slice(0, int(valid.length)));
    case 1:
      return bytes(1 + int(200));
    case 2: {
      const b = Buffer.from(valid);
      for (let i = 0; i < 1 + int(5); i++) b[int(b.length)] = int(256);
      return b;
    }
    case 3:
      return Buffer.from(`${valid}${valid}`);
    case 4:
      return Buffer.from(pick(['null', '[]', '"x"', '1', 'true', '{}', '[{}]', '{"apiVersion":1,"kind":[]}', '{"metadata":"x"}', '{"metadata":{"name":{}}}']));
    case 5:
      return Buffer.from(valid.replace(/"/, "'"));
    case 6:
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(valid)]);
    default:
      return Buffer.from(valid.replace(/:/g, () => (chance(0.1) ? '::' : ':')));
  }
}

const YAML_ODDITIES = [
  'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
  'base: &base {a: 1}\nmetadata:\n  <<: *base\n  name: x\n',
  'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n',
  'a: !!binary aGVsbG8=\n',
  'a: !!js/function "function(){}"\n',
  'a: !!python/object:os.system ["id"]\n',
  '--- \na: 1\n---\nb: 2\n',
  '\ta: 1\n',
  'a: *undefined\n',
  '? [a, b]\n: c\n',
  '[' + '1,'.repeat(10) + ']: x\n',
  'a: .inf\nb: .nan\nc: 0o777\nd: 2001-12-14t21:59:43.10-05:00\n',
  '%YAML 1.1\n---\na: yes\n',
  '- - - - - - - - - - 1\n',
  'metadata:\n  labels:\n    __proto__: x\n',
  'a: "unterminated\n',
  '{a: 1, a: 2}\n',
];

function yamlBody(): Buffer {
  switch (int(5)) {
    case 0:
      return Buffer.from(pick(YAML_ODDITIES));
    case 1: {
      const d = pick([200, 600, 2000, 20000]);
      return Buffer.from(chance(0.5) ? '['.repeat(d) + ']'.repeat(d) : Array.from({ length: Math.min(d, 3000) }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n');
    }
    case 2:
      return Buffer.from(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y${int(5)}\ndata:\n  a: ${JSON.stringify(randomScalar())}\n  b: ${JSON.stringify(randomValue())}\n`);
    case 3:
      return bytes(1 + int(300));
    default:
      return Buffer.from(`- ${'- '.repeat(int(3000))}x\n`);
  }
}

function protobufBody(kind: Kind): Buffer {
  const valid = Buffer.from(encodeObject(kind.sample(`p${int(5)}`) as never).bytes);
  const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
  switch (int(6)) {
    case 0:
      return Buffer.concat([magic, bytes(int(300))]);
    case 1:
      return valid.subarray(0, 4 + int(valid.length - 4));
    case 2: {
      const b = Buffer.from(valid);
      for (let i = 0; i < 1 + int(6); i++) b[4 + int(b.length - 4)] = int(256);
      return b;
    }
    case 3:
      return Buffer.concat([valid, bytes(1 + int(20))]);
    case 4:
      // an envelope naming another kind or an unknown one
      return Buffer.from(encodeEnvelope({ kind: pick(['Pod', 'Secret', 'Nope', '', 'Status']), apiVersion: pick(['v1', 'apps/v1', 'nope/v9', '']), raw: valid.subarray(4) }));
    default:
      return Buffer.concat([magic, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), bytes(int(40))]);
  }
}

const QUERY_PARAMS = ['watch', 'limit', 'continue', 'resourceVersion', 'resourceVersionMatch', 'labelSelector', 'fieldSelector', 'timeoutSeconds', 'allowWatchBookmarks', 'dryRun', 'fieldManager', 'fieldValidation', 'gracePeriodSeconds', 'propagationPolicy', 'force', 'includeObject', 'pretty', 'sendInitialEvents', 'orphanDependents'];
const QUERY_VALUES = ['', 'true', 'false', 'yes', 'tru', '1', '0', '-1', '2', 'abc', '1.5', '1e3', '9'.repeat(30), 'NaN', 'Infinity', '%', '%zz', '%00', '%FF%FE', 'a'.repeat(5000), 'All', 'Strict', 'Ignore', 'Warn', 'Orphan', 'NotOlderThan', 'Exact', 'Object', '__proto__', 'eyJ2IjoxfQ', 'eyJydiI6LTEsInN0YXJ0IjoiXHUwMDAwIn0', '!!!', 'app in (', 'app=', '=x', 'a,,b', 'x notin ()', 'app==a==b', 'metadata.name=x', 'spec.nope=1', 'metadata.name in (a)', '()', 'a=b,c!=d,!e,f in (g)'];

function queryString(): string {
  const n = 1 + int(4);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = pick(QUERY_PARAMS);
    const v = pick(QUERY_VALUES);
    const enc = v.startsWith('%') ? v : encodeURIComponent(v);
    parts.push(`${p}=${enc}`);
    if (chance(0.2)) parts.push(`${p}=${encodeURIComponent(pick(QUERY_VALUES))}`); // repeated
  }
  return parts.join('&');
}

const PATH_ODDITIES = [
  '/api/v1/namespaces/fuzz/configmaps/%2e%2e',
  '/api/v1/namespaces/fuzz/configmaps/..%2f..%2fsecrets',
  '/api/v1/namespaces/fuzz/configmaps/%zz',
  '/api/v1/namespaces/fuzz/configmaps/%',
  '/api/v1/namespaces/fuzz/configmaps/a%00b',
  '/api/v1/namespaces/fuzz/configmaps/%C0%AF',
  '/api/v1/namespaces/%2Ffuzz/configmaps',
  '/api/v1/namespaces/fuzz//configmaps',
  '//api/v1/namespaces/fuzz/configmaps',
  '/api/v1/namespaces/fuzz/configmaps/seed/',
  '/api/v1/namespaces/fuzz/configmaps/seed/nope',
  '/api/v1/namespaces/fuzz/configmaps/seed/status/extra',
  '/api/v1/namespaces/fuzz/configmaps/seed/a/b/c/d',
  '/api/v1/namespaces/fuzz/nope',
  '/api/v9/namespaces/fuzz/configmaps',
  '/apis/nope.example.com/v1/namespaces/fuzz/things',
  '/apis/apps',
  '/apis/apps/v9',
  '/apis//v1/configmaps',
  '/api/v1/namespaces/fuzz/pods/seed/log',
  '/api/v1/namespaces/fuzz/pods/seed/exec',
  '/api/v1/namespaces/fuzz/deployments/seed/scale',
  '/apis/apps/v1/namespaces/fuzz/deployments/seed/scale',
  '/apis/apps/v1/namespaces/fuzz/deployments/seed/rollback',
  '/api/v1/namespaces/fuzz/namespaces/untouched',
  '/api/v1/namespaces/fuzz/configmaps/' + 'n'.repeat(300),
  '/api/v1/namespaces/' + 'n'.repeat(300) + '/configmaps',
  '/api/v1/namespaces/fuzz/configmaps/' + 'x'.repeat(20000),
  '/api/v1/namespaces/fuzz/configmaps/__proto__',
  '/api/v1/namespaces/fuzz/configmaps/constructor',
  '/api/v1/namespaces/__proto__/configmaps',
  '/api/v1/__proto__',
  '/apis/__proto__/v1/x',
  '/api/v1/namespaces/fuzz/configmaps/UPPER',
  '/api/v1/namespaces/fuzz/configmaps/a.b..c',
  '/openapi/v3/apis/nope/v1',
  '/openapi/v2/../v3',
  '/version/../api',
  '/metrics/..',
];

// ---------------------------------------------------------------- the REST fuzz

const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

async function restRound(): Promise<void> {
  const kind = pick(KINDS);
  const name = pick(['seed', 'seed', `f${int(8)}`, 'missing']);
  switch (int(10)) {
    case 0: {
      // type-confused JSON objects on create / update
      const obj = confuse(kind.sample(name)) as Record<string, unknown>;
      if (chance(0.5)) await probe('json type-confused', 'POST', kind.path, Buffer.from(JSON.stringify(obj)));
      else await probe('json type-confused', 'PUT', `${kind.path}/${name}`, Buffer.from(JSON.stringify(obj)));
      break;
    }
    case 1: {
      const body = malformedJson(JSON.stringify(kind.sample(name)));
      await probe('json malformed', pick(['POST', 'PUT']), pick([kind.path, `${kind.path}/${name}`]), body);
      break;
    }
    case 2: {
      const d = pick([999, 1001, 5000, 10001, 100000]);
      await probe('json deeply nested', pick(['POST', 'PUT', 'PATCH']), chance(0.5) ? kind.path : `${kind.path}/seed`, Buffer.from(chance(0.3) ? `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":${nested(d, false)}}` : nested(d, chance(0.5))), pick(['application/json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json']));
      break;
    }
    case 3: {
      const big = chance(0.5) ? 3 * 1024 * 1024 + 1 + int(1000) : 2 * 1024 * 1024;
      const obj = { ...kind.sample(`big${int(3)}`), data: { a: 'x'.repeat(big) } };
      await probe('oversized', pick(['POST', 'PUT']), chance(0.5) ? kind.path : `${kind.path}/seed`, Buffer.from(JSON.stringify(obj)));
      break;
    }
    case 4: {
      const type = pick(PATCH_TYPES);
      let body: Buffer;
      if (type === 'application/json-patch+json') {
        const ops = Array.from({ length: 1 + int(3) }, () => ({
          op: pick(['add', 'remove', 'replace', 'move', 'copy', 'test', 'nope', undefined, 1]),
          path: pick(['', '/', '/metadata/labels/x', '/spec/containers/0/image', '/spec/containers/-', '/spec/containers/99', '/spec/containers/01', '/spec/containers/constructor', '/data/~2', '/metadata/~1~0', 'nope', '/metadata/managedFields/0/fieldsV1', 1, null]),
          from: pick([undefined, '/data/a', '/metadata', '/nope', '', 7]),
          value: randomValue(),
        }));
        body = Buffer.from(chance(0.2) ? JSON.stringify(randomValue()) : JSON.stringify(ops));
      } else if (type === 'application/apply-patch+yaml') body = yamlBody();
      else body = Buffer.from(JSON.stringify(chance(0.3) ? randomValue() : confuse(kind.sample(name))));
      await probe(`patch ${type.split('/')[1]}`, 'PATCH', `${kind.path}/${name}${type.includes('apply') ? `?fieldManager=fuzz${chance(0.2) ? '&force=true' : ''}` : ''}`, body, type);
      break;
    }
    case 5:
      await probe('yaml', pick(['POST', 'PUT']), pick([kind.path, `${kind.path}/${name}`]), yamlBody(), 'application/yaml');
      break;
    case 6:
      await probe('protobuf', pick(['POST', 'PUT']), pick([kind.path, `${kind.path}/${name}`]), protobufBody(kind), 'application/vnd.kubernetes.protobuf');
      break;
    case 7: {
      const q = queryString();
      const method = pick(['GET', 'GET', 'GET', 'DELETE', 'PATCH', 'POST']);
      const target = pick([kind.path, `${kind.path}/${name}`]);
      const body = method === 'GET' ? undefined : method === 'DELETE' ? (chance(0.5) ? Buffer.from(JSON.stringify(confuse({ kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: 'x' } }))) : undefined) : Buffer.from(JSON.stringify(method === 'POST' ? kind.sample(`q${int(4)}`) : { metadata: { labels: { q: 'x' } } }));
      await probe('query strings', method, `${target}?${q}`, body, method === 'PATCH' ? 'application/merge-patch+json' : undefined);
      break;
    }
    case 8:
      await probe('paths', pick(['GET', 'GET', 'DELETE', 'PUT', 'POST', 'PATCH']), pick(PATH_ODDITIES), chance(0.5) ? Buffer.from(JSON.stringify(kind.sample('p'))) : undefined, chance(0.5) ? 'application/merge-patch+json' : undefined);
      break;
    default: {
      // content types, methods and bodies that do not go together
      const ct = pick(['text/plain', 'application/xml', 'application/json; charset=utf-16', 'application/apply-patch+cbor', '', 'application/vnd.kubernetes.protobuf;stream=watch', 'multipart/form-data; boundary=x', '*/*']);
      await probe('content types', pick(['POST', 'PUT', 'PATCH', 'OPTIONS', 'TRACE', 'FOO']), pick([kind.path, `${kind.path}/${name}`]), Buffer.from(JSON.stringify(kind.sample(name))), ct || undefined);
    }
  }
}

// ---------------------------------------------------------------- the gRPC fuzz

const grpcTally = new Map<string, Tally>();
const grpcProblems: string[] = [];
const METHODS: [string, string][] = [
  ['Create', 'CreateRequest'],
  ['Get', 'GetRequest'],
  ['List', 'ListRequest'],
  ['Update', 'UpdateRequest'],
  ['UpdateStatus', 'UpdateRequest'],
  ['Patch', 'PatchRequest'],
  ['Delete', 'DeleteRequest'],
  ['GetScale', 'GetRequest'],
  ['UpdateScale', 'UpdateScaleRequest'],
  ['Bind', 'BindRequest'],
];

async function grpcProbe(c: ResourcesClient, category: string, method: string, request: Buffer): Promise<void> {
  let t = grpcTally.get(category);
  if (!t) grpcTally.set(category, (t = { tried: 0, ok2xx: 0, rejected4xx: 0 }));
  t.tried++;
  try {
    await c.callRaw(method, request);
    t.ok2xx++;
  } catch (err) {
    const e = err as GrpcApiError;
    const what = `${category}: ${method} ${JSON.stringify(request.subarray(0, 120).toString('latin1'))} (${request.length} bytes)`;
    if (e.code === grpc.status.INTERNAL || e.code === grpc.status.UNKNOWN || e.code === undefined) grpcProblems.push(`${what} → ${e.code} ${e.message}`);
    else if (!e.details) grpcProblems.push(`${what} → code ${e.code} without a message`);
    else t.rejected4xx++;
  }
}

function ref(k: Kind, ns = 'fuzz'): Record<string, unknown> {
  return { group: k.grpc.group ?? '', version: k.grpc.version ?? 'v1', resource: chance(0.1) ? pick(['nope', '', 'namespaces', '__proto__']) : k.grpc.resource, namespace: chance(0.1) ? pick(['', 'untouched', '__proto__', 'x'.repeat(300)]) : ns };
}

async function grpcRound(c: ResourcesClient): Promise<void> {
  const k = pick(KINDS);
  const [method, reqType] = pick(METHODS);
  switch (int(4)) {
    case 0:
      return grpcProbe(c, 'grpc garbage request', method, bytes(int(200)));
    case 1: {
      // a well-formed request message carrying a garbled object
      const valid = Buffer.from(encodeObject(k.sample(`g${int(4)}`) as never).bytes).subarray(4);
      const obj = Buffer.from(valid.subarray(int(8), valid.length - int(8)));
      for (let i = 0; i < int(4); i++) obj[int(obj.length)] = int(256);
      const msg = reqType === 'CreateRequest' || reqType === 'UpdateRequest' ? { ref: ref(k), object: obj, field_manager: pick(['', 'f', 'x'.repeat(300)]) } : { ref: ref(k), name: 'seed' };
      return grpcProbe(c, 'grpc garbled object', method, encodeGrpc(`mkube.api.v1.${reqType}`, msg as never));
    }
    case 2: {
      const msg: Record<string, unknown> = {
        ref: ref(k),
        name: pick(['seed', '', 'missing', '../x', 'x'.repeat(300), '__proto__']),
        label_selector: pick(QUERY_VALUES),
        field_selector: pick(QUERY_VALUES),
        limit: pick([0, -1, 1, 2 ** 40]),
        continue: pick(QUERY_VALUES),
        resource_version: pick(QUERY_VALUES),
        resource_version_match: pick(QUERY_VALUES),
      };
      return grpcProbe(c, 'grpc odd fields', pick(['List', 'Get', 'Delete']), encodeGrpc(`mkube.api.v1.${pick(['ListRequest', 'GetRequest'])}`, msg as never));
    }
    default: {
      const patch = chance(0.3) ? bytes(int(100)) : Buffer.from(chance(0.2) ? nested(pick([1001, 20000]), chance(0.5)) : JSON.stringify(chance(0.5) ? randomValue() : confuse(k.sample('seed'))));
      const msg = { ref: ref(k), name: 'seed', type: int(5), patch, subresource: pick(['', '', 'status', 'scale', 'nope']) };
      return grpcProbe(c, 'grpc patch', 'Patch', encodeGrpc('mkube.api.v1.PatchRequest', msg as never));
    }
  }
}

// ---------------------------------------------------------------- the test

async function snapshot(): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const p of UNTOUCHED) {
    const r = await api(fx.server, 'GET', p);
    if (r.status !== 200) throw new Error(`snapshot ${p}: ${r.status} ${r.text}`);
    out.push(r.body.items);
  }
  return out;
}

test('every malformed input gets a 4xx Kubernetes Status (REST) or a non-internal gRPC status, and nothing else changes', async (t) => {
  t.timeout((SECONDS + 120) * 1000);
  t.log(`seed ${SEED} (MKUBE_FUZZ_SEED=${SEED} replays it), ${SECONDS} s`);
  const before = await snapshot();
  const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort();
  const c = new ResourcesClient({ address: `127.0.0.1:${fx.server.grpc!.port}`, caCert: fx.server.pki.caCert, token: TOKEN, timeoutMs: 20_000 });
  clients.push(c);
  const deadline = Date.now() + SECONDS * 1000;
  while (Date.now() < deadline) {
    // a few requests at a time: concurrency without flooding two shared cores
    await Promise.all([restRound(), restRound(), grpcRound(c)]);
  }
  for (const [category, x] of [...tallies, ...grpcTally]) t.log(`${category}: ${x.tried} tried, ${x.rejected4xx} rejected, ${x.ok2xx} accepted`);
  const total = [...tallies.values(), ...grpcTally.values()].reduce((n, x) => n + x.tried, 0);
  t.log(`${total} inputs in all`);
  for (const p of [...problems, ...grpcProblems].slice(0, 40)) t.log(`PROBLEM ${p.slice(0, 700)}`);
  t.is(problems.length, 0, `${problems.length} REST problems (seed ${SEED})`);
  t.is(grpcProblems.length, 0, `${grpcProblems.length} gRPC problems (seed ${SEED})`);
  // The server serves, the untouched namespace is as it was, Object.prototype is clean.
  const ready = await api(fx.server, 'GET', '/readyz', undefined, { anonymous: true });
  t.is(ready.status, 200, ready.text);
  // (the fuzz may delete its own objects in "fuzz", so the user lists them)
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/fuzz/configmaps', undefined, { token: TOKEN })).status, 200);
  t.deepEqual(await snapshot(), before);
  t.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoKeys);
  t.true(total > 100, `only ${total} inputs`);
});

test('integer query parameters Go would not parse are a 400 with strconv\'s message', async (t) => {
  const cases: [string, string, number, string?][] = [
    ['GET', '/api/v1/namespaces/fuzz/configmaps?limit=abc', 400, 'strconv.ParseInt: parsing "abc": invalid syntax'],
    ['GET', '/api/v1/namespaces/fuzz/configmaps?limit=1.5', 400, 'strconv.ParseInt: parsing "1.5": invalid syntax'],
    ['GET', '/api/v1/namespaces/fuzz/configmaps?limit=99999999999999999999', 400, 'strconv.ParseInt: parsing "99999999999999999999": value out of range'],
    ['GET', '/api/v1/namespaces/fuzz/configmaps?watch=1&timeoutSeconds=x', 400, 'strconv.ParseInt: parsing "x": invalid syntax'],
    ['DELETE', '/api/v1/namespaces/fuzz/configmaps/nothing?gracePeriodSeconds=soon', 400, 'strconv.ParseInt: parsing "soon": invalid syntax'],
    ['GET', '/api/v1/namespaces/fuzz/configmaps?limit=%2B2', 200],
    ['GET', '/api/v1/namespaces/fuzz/configmaps?limit=2&limit=abc', 200],
    // only "0" and "false" (any case) are false: a garbage watch value is a watch, as upstream
    ['GET', '/api/v1/namespaces/fuzz/configmaps?watch=FALSE', 200],
  ];
  for (const [method, path, code, message] of cases) {
    const a = await send(method, path);
    t.is(a.status, code, `${method} ${path}: ${a.text}`);
    if (message) t.like(JSON.parse(a.text), { kind: 'Status', code, reason: 'BadRequest', message });
  }
  // An unauthorized request is refused before its options are read, as upstream.
  const r = await api(fx.server, 'GET', '/api/v1/namespaces/untouched/configmaps?limit=abc', undefined, { token: 'alice-token' });
  t.is(r.status, 403);
});

test('objects of the wrong shape are a 400 whatever the fieldValidation, over REST and gRPC', async (t) => {
  const s = fx.server;
  await api(s, 'POST', '/api/v1/namespaces/fuzz/configmaps', cm('shape'));
  for (const fv of ['', '&fieldValidation=Ignore', '&fieldValidation=Strict']) {
    const merge = await send('PATCH', `/api/v1/namespaces/fuzz/configmaps/shape?x=1${fv}`, Buffer.from('{"metadata":{"labels":["a"]}}'), 'application/merge-patch+json');
    t.is(merge.status, 400, `merge ${fv}: ${merge.text}`);
    t.regex(JSON.parse(merge.text).message, /ConfigMap in version "v1" cannot be handled as a ConfigMap: .*metadata\.labels/);
    const jp = await send('PATCH', `/api/v1/namespaces/fuzz/configmaps/shape?x=1${fv}`, Buffer.from('[{"op":"replace","path":"/data","value":7}]'), 'application/json-patch+json');
    t.is(jp.status, 400, `json patch ${fv}: ${jp.text}`);
    const create = await send('POST', `/api/v1/namespaces/fuzz/configmaps?x=1${fv}`, Buffer.from('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s2","labels":"x"}}'));
    t.is(create.status, 400, `create ${fv}: ${create.text}`);
  }
  const c = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, token: TOKEN });
  clients.push(c);
  const err = await c.patch({ resource: 'configmaps', namespace: 'fuzz' }, 'shape', 'JSON_MERGE_PATCH', { metadata: { labels: ['a'] } }).then(
    () => undefined,
    (e: GrpcApiError) => e,
  );
  t.is(err?.code, grpc.status.INVALID_ARGUMENT, err?.message);
  t.is(err?.status?.code, 400);
});

test('null list elements in a pod (found by seed 1826299837) are dropped as the codec stores them, never a 500', async (t) => {
  const s = fx.server;
  const base = { name: 'c', image: 'busybox' };
  const cases: Array<[Record<string, unknown>, number]> = [
    [{ containers: [null] }, 422],
    [{ containers: [base], initContainers: [null] }, 201],
    [{ containers: [{ ...base, ports: [null] }] }, 201],
    [{ containers: [{ ...base, env: [null] }] }, 201],
    [{ containers: [base], volumes: [null] }, 201],
    [{ containers: [{ ...base, volumeMounts: [null] }] }, 201],
    [{ containers: [base], tolerations: [null] }, 201],
  ];
  for (const [i, [spec, code]] of cases.entries()) {
    const r = await send('POST', '/api/v1/namespaces/fuzz/pods', Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `nulls-${i}` }, spec })));
    t.is(r.status, code, `${JSON.stringify(spec)}: ${r.text}`);
    if (code === 201) t.false(JSON.stringify(JSON.parse(r.text).spec).includes('null'), r.text);
  }
  const patched = await send('PATCH', '/api/v1/namespaces/fuzz/pods/nulls-1', Buffer.from('{"spec":{"tolerations":[null]}}'), 'application/merge-patch+json');
  t.true(patched.status < 500, patched.text);
});
