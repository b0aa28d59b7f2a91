/**
 * The chaos suite's report: per fault kind, how long the cluster took to notice (a new store
 * leader / lease holder) and to recover (the fault → the next acknowledged API write called after
 * it), the requests the probe got answered during it, and the writes acknowledged and lost over
 * the run; printed as a table (and kept as JSON in the data dir).
 */

/** One injected fault and what was measured around it. */
export interface FaultOutcome {
  kind: string;
  target: string;
  at: number;
  /** The fault's wall-clock time (to find it in the components' logs). */
  startedAt: string;
  /**
   * How the fault's time was taken: on the host where it happened, ± uncertaintyMs (the clock offset's, remote
   * hosts); the injecting command's start and end relative to it; the fault's wall-clock time here and, for a
   * remote host, the host's own reading.
   */
  faultTime?: { uncertaintyMs: number; commandStartMs: number; commandEndMs: number; wallMs: number; hostWallMs?: number };
  /** Fault → heal. */
  heldMs: number;
  /** Fault → the cluster healthy again after the heal (the window its writes are counted in). */
  healthyMs: number;
  /** A control-plane fault (the Service's pods keep running: every request should be served). */
  controlPlane: boolean;
  /** Fault → the cluster named a new leader/holder (undefined when the fault needs none). */
  detectionMs?: number;
  /** Fault → the first acknowledged write called after it (undefined: none before the window ended). */
  recoveryMs?: number;
  served: { ok: number; total: number };
  /** Writes called from the fault until the cluster was healthy again, by outcome (lost: found missing afterwards). */
  writes: WriteCounts;
  /** The workload's requests from 1 s before the fault to its recovery, times relative to the fault (JSON report only). */
  timeline?: Array<{ client: number; op: string; callMs: number; retMs: number; outcome: string; server: string; error?: string }>;
}

export interface WriteCounts {
  acked: number;
  unknown: number;
  lost: number;
}

export interface ChaosSummary {
  durationMs: number;
  faults: FaultOutcome[];
  writesAcked: number;
  writesUnknown: number;
  writesLost: number;
  operationsChecked: number;
  linearizable: boolean | 'unknown';
  requestsServed: { ok: number; total: number };
  /** Requests served during control-plane faults (the Service's pods are not touched by them). */
  requestsServedControlPlane: { ok: number; total: number };
  replicasRestored: boolean;
  /** The remote hosts' clock offsets the fault times were moved by (hosts-file mode). */
  clockOffsets?: Array<{ host: string; offsetMs: number; uncertaintyMs: number; rttMs: number[] }>;
}

/** DIR/chaos-report.json (or --report FILE): the summary with the run's seed. */
export interface ChaosReportFile extends ChaosSummary {
  seed: number;
}

export interface FaultRow {
  kind: string;
  count: number;
  detectionMedianMs?: number;
  detectionMaxMs?: number;
  recoveryMedianMs?: number;
  recoveryMaxMs?: number;
  served: { ok: number; total: number };
  writes: WriteCounts;
}

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Rows per fault kind, in the order the kinds first occurred. */
export function faultRows(faults: FaultOutcome[]): FaultRow[] {
  const kinds = [...new Set(faults.map((f) => f.kind))];
  return kinds.map((kind) => {
    const fs = faults.filter((f) => f.kind === kind);
    const det = fs.map((f) => f.detectionMs).filter((x): x is number => x !== undefined);
    const rec = fs.map((f) => f.recoveryMs).filter((x): x is number => x !== undefined);
    return {
      kind,
      count: fs.length,
      detectionMedianMs: median(det),
      detectionMaxMs: det.length ? Math.max(...det) : undefined,
      recoveryMedianMs: median(rec),
      recoveryMaxMs: rec.length ? Math.max(...rec) : undefined,
      served: fs.reduce((a, f) => ({ ok: a.ok + f.served.ok, total: a.total + f.served.total }), { ok: 0, total: 0 }),
      writes: fs.reduce((a, f) => ({ acked: a.acked + f.writes.acked, unknown: a.unknown + f.writes.unknown, lost: a.lost + f.writes.lost }), { acked: 0, unknown: 0, lost: 0 }),
    };
  });
}

const ms = (x: number | undefined) => (x === undefined ? '-' : `${Math.round(x)} ms`);
const pct = (s: { ok: number; total: number }) => (s.total === 0 ? '-' : `${s.ok}/${s.total} (${((100 * s.ok) / s.total).toFixed(1)}%)`);

/** The table a user reads (Markdown, so it can go into a note as is). */
export function formatReport(summary: ChaosSummary): string {
  const rows = faultRows(summary.faults);
  const lines = [
    '| fault | n | detection median / max | recovery (next acked write) median / max | requests served during the fault | writes acked / unknown / lost |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.kind} | ${r.count} | ${ms(r.detectionMedianMs)} / ${ms(r.detectionMaxMs)} | ${ms(r.recoveryMedianMs)} / ${ms(r.recoveryMaxMs)} | ${pct(r.served)} | ${r.writes.acked} / ${r.writes.unknown} / ${r.writes.lost} |`),
    '',
    `duration ${(summary.durationMs / 1000).toFixed(0)} s · writes acknowledged ${summary.writesAcked}, unknown outcome ${summary.writesUnknown}, lost ${summary.writesLost} · ` +
      `history ${summary.linearizable === true ? 'linearizable' : summary.linearizable === false ? 'NOT linearizable' : 'UNDECIDED'} (${summary.operationsChecked} operations checked) · ` +
      `requests served ${pct(summary.requestsServed)}, during control-plane faults ${pct(summary.requestsServedControlPlane)} · ` +
      `Deployments ${summary.replicasRestored ? 'back at their replica counts' : 'NOT back at their replica counts'}`,
  ];
  if (summary.clockOffsets?.length) {
    const worst = Math.max(...summary.clockOffsets.map((o) => o.uncertaintyMs));
    lines.push('', `fault times taken on the hosts, moved by clock offsets measured at the start (round trips to mkube chaos-host clock): ` +
      `${summary.clockOffsets.map((o) => `${o.host} ${o.offsetMs >= 0 ? '+' : ''}${o.offsetMs.toFixed(1)} ± ${o.uncertaintyMs.toFixed(1)} ms`).join(', ')}; detection and recovery times ± ${worst.toFixed(1)} ms`);
  }
  return lines.join('\n');
}

/** The run passes only when nothing acknowledged was lost, the check decided "linearizable", and the Deployments recovered. */
export function passed(summary: ChaosSummary): boolean {
  return summary.writesLost === 0 && summary.linearizable === true && summary.replicasRestored;
}
