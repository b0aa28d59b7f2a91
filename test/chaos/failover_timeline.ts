// The timeline of one store failover, read from the members' own logs (they run
// with --log-level info): when the surviving members last heard from the killed
// leader, when one noticed its peer connection break, when the first campaign
// started, when the new leader was elected and committed the first entry of its
// term — set beside the fault's time and the client's first acknowledged write,
// so that a slow failover says which step was slow.
import type { StoreCluster } from '@mkube/testing';

export interface FailoverTimeline {
  /** Milliseconds after the fault (negative: before it); undefined when the logs do not show it. */
  lastHeard?: number;
  noticed?: number;
  campaign?: number;
  elected?: number;
  firstCommit?: number;
  acked?: number;
  /** Followers that started campaigning after the fault (2: both timed out before a leader was elected). */
  campaigns: number;
  /** Leaders elected after the fault (more than one: the cluster did not settle with the first). */
  elections: number;
}

interface LogLine {
  time: number;
  msg?: string;
  member?: string;
  lastHeardAt?: number;
}

/** The JSON log lines (pino) a member wrote that are still kept (StoreCluster option logs). */
function logLines(chunks: string[]): LogLine[] {
  const out: LogLine[] = [];
  for (const line of chunks.join('').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as LogLine;
      if (typeof l.time === 'number') out.push(l);
    } catch {
      // a line cut by the buffer's limit
    }
  }
  return out;
}

/** The timeline of the failover after `faultAt` (epoch ms) as the members `survivors` logged it. */
export function failoverTimeline(cluster: StoreCluster, survivors: number[], faultAt: number, ackedMs: number | undefined): FailoverTimeline {
  const lines = survivors.flatMap((i) => logLines(cluster.members[i]!.logs)).filter((l) => l.time >= faultAt - 2000);
  const after = lines.filter((l) => l.time >= faultAt).sort((a, b) => a.time - b.time);
  const first = (msg: string) => after.find((l) => l.msg?.startsWith(msg));
  const rel = (t: number | undefined) => (t === undefined ? undefined : t - faultAt);
  const heard = after
    .filter((l) => l.msg?.startsWith('campaigning') || l.msg?.startsWith('the peer connection to the leader broke'))
    .map((l) => l.lastHeardAt)
    .filter((t): t is number => typeof t === 'number' && t > 0);
  return {
    lastHeard: heard.length > 0 ? Math.max(...heard) - faultAt : undefined,
    noticed: rel(first('the peer connection to the leader broke')?.time),
    campaign: rel(first('campaigning')?.time),
    elected: rel(first('raft: became leader')?.time),
    firstCommit: rel(first('leader: the first entry of its term is committed')?.time),
    acked: ackedMs,
    campaigns: after.filter((l) => l.msg?.startsWith('campaigning')).length,
    elections: after.filter((l) => l.msg?.startsWith('raft: became leader')).length,
  };
}

/** The survivors' log lines from `faultAt` to `untilMs` after it, each as "+ms member message {fields}" (for a slow round). */
export function failoverLog(cluster: StoreCluster, survivors: number[], faultAt: number, untilMs: number): string[] {
  return survivors
    .flatMap((i) => logLines(cluster.members[i]!.logs).map((l) => ({ l, name: cluster.members[i]!.name })))
    .filter(({ l }) => l.time >= faultAt && l.time <= faultAt + untilMs)
    .sort((a, b) => a.l.time - b.l.time)
    .map(({ l, name }) => {
      const rest: Record<string, unknown> = { ...l };
      for (const k of ['time', 'msg', 'level', 'component', 'member']) delete rest[k];
      return `+${l.time - faultAt} ${name} ${l.msg ?? ''} ${JSON.stringify(rest)}`;
    });
}

const fmt = (v: number | undefined) => (v === undefined ? '?' : `${v >= 0 ? '+' : ''}${v}`);

export function formatTimeline(label: string, t: FailoverTimeline): string {
  return (
    `${label}: last heartbeat ${fmt(t.lastHeard)}, connection drop noticed ${fmt(t.noticed)}, election start ${fmt(t.campaign)}` +
    ` (${t.campaigns} campaigning), elected ${fmt(t.elected)} (${t.elections} election${t.elections === 1 ? '' : 's'}), first commit ${fmt(t.firstCommit)}, client's write acknowledged ${fmt(t.acked)} ms`
  );
}

/** Medians of each step over the rounds. */
export function summarizeTimelines(ts: FailoverTimeline[]): string {
  const median = (xs: Array<number | undefined>) => {
    const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    return v.length === 0 ? undefined : v[Math.floor(v.length / 2)];
  };
  const m: FailoverTimeline = {
    lastHeard: median(ts.map((t) => t.lastHeard)),
    noticed: median(ts.map((t) => t.noticed)),
    campaign: median(ts.map((t) => t.campaign)),
    elected: median(ts.map((t) => t.elected)),
    firstCommit: median(ts.map((t) => t.firstCommit)),
    acked: median(ts.map((t) => t.acked)),
    campaigns: median(ts.map((t) => t.campaigns)) ?? 0,
    elections: median(ts.map((t) => t.elections)) ?? 0,
  };
  return (
    formatTimeline('medians', m) +
    `; rounds where both followers campaigned: ${ts.filter((t) => t.campaigns > 1).length}/${ts.length}, with more than one election: ${ts.filter((t) => t.elections > 1).length}/${ts.length}`
  );
}
