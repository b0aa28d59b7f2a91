// networking.k8s.io/v1 NetworkPolicy at the API (the node agent enforces them: packages/node-agent/src/netpol):
// upstream's defaults (policyTypes from the rules, port protocol TCP, podSelector {}), validation with
// upstream's paths and messages — poisoned CIDRs and ports are refused with 422 before they can reach an
// agent's iptables-restore —, the printer columns and kubectl describe under kubectl 1.33, and the node
// identity's read access (the agent enforces the policies).
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { JsonObject } from '@mkube/api';
import { validateObject } from '../src/registry/validation.js';
import { applyDefaults } from '../src/registry/defaults.js';
import { issueCertificate } from '../src/auth/pki.js';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const NS = 'netpol';
const NPS = `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`;
let fx: Fixture | undefined;

test.before(async () => {
  fx = await startFixture();
  await api(fx.server, 'POST', '/api/v1/namespaces', { metadata: { name: NS } });
});
test.after.always(async () => {
  await fx?.stop();
});

function kubectl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(`${BIN}/kubectl.1.33`, args, { env: { ...process.env, KUBECONFIG: fx!.server.kubeconfigPath, HOME: fx!.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

/** The field errors of validateObject after the defaults, as "field: message". */
function errorsOf(spec: Record<string, unknown>): string[] {
  const o = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'default' }, spec } as unknown as JsonObject;
  applyDefaults('networkpolicies', o);
  return validateObject('networkpolicies', true, o).map((e) => `${e.field}: ${e.type}${e.detail ? `: ${e.detail}` : ''}${e.supported ? `: ${e.supported.join(',')}` : ''}`);
}

test('defaults as upstream: Ingress always, Egress only with egress rules, protocol TCP', (t) => {
  const specAfter = (spec: JsonObject): JsonObject => {
    const o: JsonObject = { metadata: { name: 'p' }, spec };
    applyDefaults('networkpolicies', o);
    return o.spec as JsonObject;
  };
  const e = specAfter({ egress: [{ ports: [{ port: 53, protocol: 'UDP' }, { port: 80 }] }] });
  t.deepEqual(e.policyTypes, ['Ingress', 'Egress']);
  t.deepEqual(e.podSelector, {});
  t.deepEqual(e.egress, [{ ports: [{ port: 53, protocol: 'UDP' }, { port: 80, protocol: 'TCP' }] }]);
  t.deepEqual(specAfter({ podSelector: { matchLabels: { a: 'b' } } }).policyTypes, ['Ingress'], 'an empty policy is a default-deny ingress policy');
  t.deepEqual(specAfter({ policyTypes: ['Egress'] }).policyTypes, ['Egress'], 'explicit types stay');
});

test('validation: ports, endPort, named ports, peers, ipBlock and policyTypes with upstream messages', (t) => {
  t.deepEqual(errorsOf({ ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { a: 'b' } }, podSelector: {} }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 'http' }, { port: 8000, endPort: 9000 }, { protocol: 'SCTP' }] }] }), []);
  t.deepEqual(errorsOf({ ingress: [{ ports: [{ port: 0 }, { port: 70000 }] }] }), [
    'spec.ingress[0].ports[0].port: FieldValueInvalid: must be between 1 and 65535, inclusive',
    'spec.ingress[0].ports[1].port: FieldValueInvalid: must be between 1 and 65535, inclusive',
  ]);
  t.deepEqual(errorsOf({ egress: [{ ports: [{ port: 9000, endPort: 8000 }] }] }), ['spec.egress[0].ports[0].endPort: FieldValueInvalid: must be greater than or equal to `port`']);
  t.deepEqual(errorsOf({ egress: [{ ports: [{ port: 80, endPort: 70000 }] }] }), ['spec.egress[0].ports[0].endPort: FieldValueInvalid: must be between 1 and 65535, inclusive']);
  t.deepEqual(errorsOf({ egress: [{ ports: [{ port: 'http', endPort: 90 }] }] }), ['spec.egress[0].ports[0].endPort: FieldValueInvalid: may not be specified when `port` is non-numeric']);
  t.deepEqual(errorsOf({ egress: [{ ports: [{ endPort: 90 }] }] }), ['spec.egress[0].ports[0].endPort: FieldValueInvalid: may not be specified when `port` is not specified']);
  t.deepEqual(errorsOf({ ingress: [{ ports: [{ port: 'web server' }] }] }), ['spec.ingress[0].ports[0].port: FieldValueInvalid: must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)']);
  t.deepEqual(errorsOf({ ingress: [{ ports: [{ port: 80, protocol: 'ICMP' }] }] }), ['spec.ingress[0].ports[0].protocol: FieldValueNotSupported: TCP,UDP,SCTP']);
  t.deepEqual(errorsOf({ ingress: [{ from: [{}] }] }), ['spec.ingress[0].from[0]: FieldValueRequired: must specify a peer']);
  t.deepEqual(errorsOf({ ingress: [{ from: [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }] }] }), ['spec.ingress[0].from[0]: FieldValueForbidden: may not specify both ipBlock and another peer']);
  t.deepEqual(errorsOf({ egress: [{ to: [{ ipBlock: { cidr: '' } }] }] }), ['spec.egress[0].to[0].ipBlock.cidr: FieldValueRequired']);
  t.deepEqual(errorsOf({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8 -j ACCEPT' } }] }] }), ['spec.egress[0].to[0].ipBlock.cidr: FieldValueInvalid: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']);
  t.deepEqual(errorsOf({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24', '10.0.0.0/16', '10.0.5.0/24\n-A FORWARD -j ACCEPT'] } }] }] }), [
    'spec.egress[0].to[0].ipBlock.except[0]: FieldValueInvalid: must be a strict subset of `cidr`',
    'spec.egress[0].to[0].ipBlock.except[1]: FieldValueInvalid: must be a strict subset of `cidr`',
    'spec.egress[0].to[0].ipBlock.except[2]: FieldValueInvalid: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
  ]);
  t.deepEqual(errorsOf({ policyTypes: ['Ingress', 'Egress', 'Ingress'] }), ['spec.policyTypes: FieldValueInvalid: may not specify more than two policyTypes']);
  t.deepEqual(errorsOf({ policyTypes: ['Inbound'] }), ['spec.policyTypes[0]: FieldValueNotSupported: Ingress,Egress']);
  t.deepEqual(errorsOf({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }), ["spec.podSelector.matchExpressions[0].values: FieldValueRequired: must be specified when `operator` is 'In' or 'NotIn'"]);
});

test.serial('over HTTPS: created with defaults, poisoned values refused with 422 and upstream messages, kubectl columns', async (t) => {
  const ok = await api(fx!.server, 'POST', NPS, { metadata: { name: 'allow-web' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'a' } } }], ports: [{ port: 80 }] }] } });
  t.is(ok.status, 201, JSON.stringify(ok.body));
  t.deepEqual(ok.body.spec.policyTypes, ['Ingress']);
  t.is(ok.body.spec.ingress[0].ports[0].protocol, 'TCP');
  const bad = await api(fx!.server, 'POST', NPS, { metadata: { name: 'poison' }, spec: { podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0 -j ACCEPT' } }], ports: [{ port: 80, endPort: 79 }] }] } });
  t.is(bad.status, 422, JSON.stringify(bad.body));
  t.is(
    bad.body.message,
    'NetworkPolicy.networking.k8s.io "poison" is invalid: [spec.egress[0].ports[0].endPort: Invalid value: 79: must be greater than or equal to `port`, spec.egress[0].to[0].ipBlock.cidr: Invalid value: "0.0.0.0/0 -j ACCEPT": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)]',
  );
  t.is((await api(fx!.server, 'GET', `${NPS}/poison`)).status, 404);
  // An update is validated too.
  const upd = await api(fx!.server, 'PUT', `${NPS}/allow-web`, { ...ok.body, spec: { ...ok.body.spec, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] } });
  t.is(upd.status, 422, JSON.stringify(upd.body));
  const get = await kubectl(['get', 'netpol', '-n', NS]);
  t.is(get.code, 0, get.err);
  t.regex(get.out, /^NAME\s+POD-SELECTOR\s+AGE\nallow-web\s+app=web\s+\d+s\n$/);
  const described = await kubectl(['describe', 'netpol', '-n', NS, 'allow-web']);
  t.is(described.code, 0, described.err);
  t.regex(described.out, /PodSelector:\s+app=web/);
  t.regex(described.out, /Allowing ingress traffic:\s+To Port: 80\/TCP\s+From:\s+NamespaceSelector: team=a/);
  const file = join(fx!.dir, 'poison.yaml');
  writeFileSync(file, JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'poison', namespace: NS }, spec: { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['10.0.1.0/25'] } }] }] } }));
  const applied = await kubectl(['apply', '-f', file]);
  t.not(applied.code, 0);
  t.regex(applied.err, /spec\.ingress\[0\]\.from\[0\]\.ipBlock\.except\[0\]: Invalid value: "10\.0\.1\.0\/25": must be a strict subset of `cidr`/);
});

test.serial('a node identity (the node agent enforcing policies) may list and watch NetworkPolicies, Namespaces and Pods of every namespace, and not write policies', async (t) => {
  const dir = fx!.server.pki.dir;
  issueCertificate(dir, 'netpol-node', '/O=system:nodes/CN=system:node:np1', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const identity = { cert: readFileSync(join(dir, 'netpol-node.crt'), 'utf8'), key: readFileSync(join(dir, 'netpol-node.key'), 'utf8') };
  for (const path of ['/apis/networking.k8s.io/v1/networkpolicies', '/api/v1/namespaces', '/api/v1/pods', '/apis/networking.k8s.io/v1/networkpolicies?watch=1&timeoutSeconds=1']) {
    const r = await api(fx!.server, 'GET', path, undefined, { identity });
    t.is(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
  }
  const w = await api(fx!.server, 'POST', NPS, { metadata: { name: 'by-node' }, spec: {} }, { identity });
  t.is(w.status, 403);
});
