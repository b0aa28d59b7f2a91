// The chaos suite's report (packages/cli/src/chaos/report.ts): rows per fault kind in the order
// the kinds first occurred, medians and maxima of detection and recovery, requests served and
// writes summed per kind, the Markdown table and the summary line, and the pass rule (nothing
// lost, history decided linearizable, Deployments back).
import test from 'ava';
import { faultRows, formatReport, median, passed, type ChaosSummary, type FaultOutcome } from '../src/chaos/report.js';

function fault(kind: string, o: Partial<FaultOutcome> = {}): FaultOutcome {
  return { kind, target: 'h1', at: 0, startedAt: '2026-12-07T02:00:00.000Z', heldMs: 5000, healthyMs: 6000, controlPlane: kind !== 'worker', served: { ok: 10, total: 10 }, writes: { acked: 5, unknown: 1, lost: 0 }, ...o };
}

function summary(o: Partial<ChaosSummary> = {}): ChaosSummary {
  return {
    durationMs: 61_400, faults: [fault('store-leader', { detectionMs: 600, recoveryMs: 700 })], writesAcked: 100, writesUnknown: 2, writesLost: 0, operationsChecked: 250,
    linearizable: true, requestsServed: { ok: 90, total: 100 }, requestsServedControlPlane: { ok: 50, total: 50 }, replicasRestored: true, ...o,
  };
}

test('median of odd and even counts, undefined when empty', (t) => {
  t.is(median([]), undefined);
  t.is(median([5, 1, 3]), 3);
  t.is(median([4, 1, 3, 2]), 2.5);
});

test('rows per kind in first-occurrence order: medians, maxima, sums; faults without detection show none', (t) => {
  const rows = faultRows([
    fault('store-leader', { detectionMs: 600, recoveryMs: 900 }),
    fault('worker', { recoveryMs: 100, served: { ok: 2, total: 8 } }),
    fault('store-leader', { detectionMs: 400, recoveryMs: 1500 }),
    fault('store-leader', { detectionMs: 500, recoveryMs: undefined, writes: { acked: 1, unknown: 0, lost: 1 } }),
  ]);
  t.deepEqual(rows.map((r) => r.kind), ['store-leader', 'worker']);
  const [s, w] = rows;
  t.is(s!.count, 3);
  t.is(s!.detectionMedianMs, 500);
  t.is(s!.detectionMaxMs, 600);
  t.is(s!.recoveryMedianMs, 1200);
  t.is(s!.recoveryMaxMs, 1500);
  t.deepEqual(s!.served, { ok: 30, total: 30 });
  t.deepEqual(s!.writes, { acked: 11, unknown: 2, lost: 1 });
  t.is(w!.detectionMedianMs, undefined);
  t.is(w!.detectionMaxMs, undefined);
  t.deepEqual(w!.served, { ok: 2, total: 8 });
});

test('the table: one row per kind with ms, fractions and write counts; the summary line', (t) => {
  const text = formatReport(summary({ faults: [fault('store-leader', { detectionMs: 612.4, recoveryMs: 701.6 }), fault('worker', { served: { ok: 1, total: 4 } })] }));
  const lines = text.split('\n');
  t.is(lines[0], '| fault | n | detection median / max | recovery (next acked write) median / max | requests served during the fault | writes acked / unknown / lost |');
  t.is(lines[2], '| store-leader | 1 | 612 ms / 612 ms | 702 ms / 702 ms | 10/10 (100.0%) | 5 / 1 / 0 |');
  t.is(lines[3], '| worker | 1 | - / - | - / - | 1/4 (25.0%) | 5 / 1 / 0 |');
  t.is(lines[5], 'duration 61 s · writes acknowledged 100, unknown outcome 2, lost 0 · history linearizable (250 operations checked) · requests served 90/100 (90.0%), during control-plane faults 50/50 (100.0%) · Deployments back at their replica counts');
});

test('the summary line names an undecided or failed check and Deployments not back', (t) => {
  t.regex(formatReport(summary({ linearizable: 'unknown' })), /history UNDECIDED/);
  t.regex(formatReport(summary({ linearizable: false, replicasRestored: false })), /history NOT linearizable .* Deployments NOT back/);
  t.regex(formatReport(summary({ requestsServed: { ok: 0, total: 0 } })), /requests served -,/);
});

test('passes only with nothing lost, a decided linearizable history and the Deployments back', (t) => {
  t.true(passed(summary()));
  t.false(passed(summary({ writesLost: 1 })));
  t.false(passed(summary({ linearizable: 'unknown' })));
  t.false(passed(summary({ linearizable: false })));
  t.false(passed(summary({ replicasRestored: false })));
});

test('hosts-file runs: the clock offsets the fault times were moved by are printed under the table, with the worst uncertainty', (t) => {
  const out = formatReport(summary({ clockOffsets: [{ host: 'cp1', offsetMs: 0.03, uncertaintyMs: 0.13, rttMs: [0.3] }, { host: 'w1', offsetMs: -12.5, uncertaintyMs: 2.45, rttMs: [4.9] }] }));
  t.true(out.endsWith('\n\nfault times taken on the hosts, moved by clock offsets measured at the start (round trips to mkube chaos-host clock): cp1 +0.0 ± 0.1 ms, w1 -12.5 ± 2.5 ms; detection and recovery times ± 2.5 ms'), out);
  t.false(formatReport(summary()).includes('clock offsets'));
});
