/**
 * mkube's proto schema lacks no field upstream Kubernetes 1.33 has in the
 * messages mkube declares (scripts/proto_gap.ts reads upstream's schema from
 * the FileDescriptorProtos kubectl 1.33 carries), so no field a client sends
 * is silently dropped when an object is stored.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(fileURLToPath(import.meta.url), '../../../..');

function protoGap(...args: string[]): unknown {
  return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', join(repo, 'scripts/proto_gap.ts'), ...args], { cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 }));
}

interface Report {
  comparedMessages: number;
  missingFields: number;
  mismatchedFields: number;
  renamed: string[];
  oursOnly: string[];
  gaps: { message: string; missing: { name: string; id: number }[]; mismatched: string[] }[];
}

test('upstream 1.33 is read from kubectl: Container.restartPolicy is field 24, PodStatus.hostIPs 16, ResourceRequirements.limits a map', (t) => {
  const container = protoGap('--upstream', 'k8s.io.api.core.v1.Container') as { name: string; id: number }[];
  t.deepEqual(container.find((f) => f.id === 24), { name: 'restartPolicy', id: 24, type: 'string', rule: '' });
  const podStatus = protoGap('--upstream', 'k8s.io.api.core.v1.PodStatus') as { id: number }[];
  t.deepEqual(podStatus.find((f) => f.id === 16), { name: 'hostIPs', id: 16, type: 'k8s.io.api.core.v1.HostIP', rule: 'repeated' });
  const requirements = protoGap('--upstream', 'k8s.io.api.core.v1.ResourceRequirements') as { id: number }[];
  t.deepEqual(requirements.find((f) => f.id === 1), { name: 'limits', id: 1, type: 'k8s.io.apimachinery.pkg.api.resource.Quantity', rule: 'map' });
});

test('no message mkube declares lacks a field upstream 1.33 has, and none disagrees in number, type or cardinality', (t) => {
  const report = protoGap('--json') as Report;
  t.true(report.comparedMessages > 300, `only ${report.comparedMessages} messages compared`);
  t.deepEqual(report.gaps.map((g) => `${g.message}: ${[...g.missing.map((f) => `${f.name} = ${f.id}`), ...g.mismatched].join('; ')}`), []);
  t.is(report.missingFields + report.mismatchedFields, 0);
  // The one accepted difference: upstream's proto name uID (from Go's UID), ours its JSON key uid.
  t.deepEqual(report.renamed, ['k8s.io.api.authentication.v1.BoundObjectReference.uID (ours uid)']);
  // Declared by mkube, absent from kubectl: kube-aggregator's apiregistration.k8s.io.
  t.deepEqual(report.oursOnly.filter((m) => !m.startsWith('k8s.io.api.apiregistration.v1.')), []);
});
