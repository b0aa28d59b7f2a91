// The node agent's certificate rotation schedule and manager (no cluster):
// kubelet's jittered deadline at 70–90 % of the lifetime, the back-off, a
// forced renewal storing the new pair 0600 in one pem and handing it over,
// and a failed renewal keeping the current pair.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { silentLogger } from '../src/logger.js';
import { CertificateManager } from '../src/certificates/manager.js';
import { initialServingPair } from '../src/certificates/node_certificates.js';
import { retryDelayMs, rotationDeadline } from '../src/certificates/rotation.js';
import { currentPemPath, loadValidPair, splitPem } from '../src/certificates/store.js';

test('rotation deadline: between 70 % and 90 % of the lifetime', (t) => {
  const nb = 1_000_000;
  const na = nb + 600_000;
  t.is(rotationDeadline(nb, na, () => 0), nb + 420_000);
  t.is(rotationDeadline(nb, na, () => 0.999999), nb + 539_999);
  for (let i = 0; i < 100; i++) {
    const d = rotationDeadline(nb, na);
    t.true(d >= nb + 420_000 && d <= nb + 540_000);
  }
  t.deepEqual([0, 1, 2, 10].map(retryDelayMs), [2_000, 4_000, 8_000, 300_000]);
});

test('manager: a forced renewal stores the new pair (0600) and hands it over; a failure keeps the current one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-certmgr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = await initialServingPair(dir, 'n1', '10.0.0.1');
  t.true(first.placeholder);
  const next = await initialServingPair(dir, 'n1', '10.0.0.1');
  const handed: string[] = [];
  let fail = false;
  const m = new CertificateManager({
    kind: 'server', dir, log: silentLogger,
    request: async () => {
      if (fail) throw new Error('signer down');
      return next;
    },
    onRotated: (p) => void handed.push(p.certPem),
  });
  m.start(first);
  t.teardown(() => m.stop());
  const cert = new X509Certificate(first.certPem);
  const life = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
  t.true(m.deadline >= Date.parse(cert.validFrom) + 0.7 * life - 1 && m.deadline <= Date.parse(cert.validFrom) + 0.9 * life + 1);
  await m.rotateNow();
  t.deepEqual(handed, [next.certPem]);
  t.is(m.rotations, 1);
  t.is(statSync(currentPemPath(dir, 'server')).mode & 0o777, 0o600);
  t.deepEqual(splitPem(readFileSync(currentPemPath(dir, 'server'), 'utf8')), { certPem: next.certPem, keyPem: next.keyPem });
  t.deepEqual(loadValidPair(dir, 'server'), { certPem: next.certPem, keyPem: next.keyPem });
  fail = true;
  await t.throwsAsync(m.rotateNow(), { message: 'signer down' });
  t.is(m.pair?.certPem, next.certPem);
  t.is(m.rotations, 1);
});
