// The node agent's NetworkPolicy enforcement: on every change of the pods, namespaces or policies it
// watches (informers in agent.ts) it rebuilds this node's chains (netpol_rules.ts) and applies them
// with one `iptables-restore --noflush` of the filter table — atomic, only the agent's own MKUBE-NETPOL
// and MKUBE-NP[IEX]-… chains, stale ones deleted — and keeps one jump from FORWARD into MKUBE-NETPOL.
// Each NetworkPolicy and Pod passes netpol_guard.ts first: a refused policy is logged and counted and
// replaced by its last good version, or, when it has none, still isolates the pods it selects with no
// rule of its own (fail closed: none of its values is written); a refused pod is left out.
// An unchanged plan is not re-applied (pod status churn), except every 30 s (the informers' resync)
// so that rules removed behind the agent's back come back.
// The chains stay when the agent stops, as a CNI's policy agent leaves its dataplane (pods stay
// isolated while the agent restarts; the restarted agent rebuilds them from the API); a deleted pod's
// chains go with the next sync.
import { execFile } from 'node:child_process';
import { CoalescingSync } from '../coalescing_sync.js';
import type { Logger } from '../logger.js';
import { LastGood, SinkRefusal } from '../proxy/sink_guard.js';
import { checkNetworkPolicy, checkPod } from './netpol_guard.js';
import type { Namespace, NetworkPolicy, Pod } from '@mkube/api';
import { isNetpolChain, netpolRestoreInput, NETPOL_CHAIN, podPolicies } from './netpol_rules.js';

/** An unchanged plan is still written again after this long (repairs rules someone else removed). */
const FULL_SYNC_MS = 30_000;

export interface NetpolSource {
  pods(): Pod[];
  namespaces(): Namespace[];
  policies(): NetworkPolicy[];
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`), { code: 'NetworkPolicyRulesFailed' }));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }) => `${String(o.metadata?.namespace)}/${String(o.metadata?.name)}`;

/** A refused policy without a last good version: it still isolates what its podSelector selects, and allows nothing. */
function isolationOnly(p: NetworkPolicy): NetworkPolicy {
  const types = (Array.isArray(p.spec?.policyTypes) ? p.spec.policyTypes : []).filter((t: string) => t === 'Ingress' || t === 'Egress');
  return { metadata: p.metadata, spec: { podSelector: p.spec?.podSelector ?? {}, policyTypes: types.length ? types : Array.isArray(p.spec?.egress) && p.spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'] } };
}

export class NetworkPolicyEnforcer {
  syncs = 0;
  failures = 0;
  /** NetworkPolicies and Pods refused by the sink guard. */
  refused = 0;
  /** Chains of ours in the filter table after the last sync (MKUBE-NETPOL included). */
  chains = 0;
  private readonly goodPolicies = new LastGood<NetworkPolicy>(keyOf, checkNetworkPolicy);
  private readonly refusedPods = new Map<string, string>();
  private readonly runner = new CoalescingSync(() =>
    this.syncOnce().catch((err: Error) => {
      this.failures++;
      this.log.warn({ err }, 'network policy rules not programmed');
    }),
  );

  constructor(
    private readonly source: NetpolSource,
    private readonly nodeName: string,
    private readonly log: Logger,
  ) {}

  /** Coalescing: a change while a sync runs re-runs it once with the latest state. */
  update(): Promise<void> {
    return this.runner.request();
  }

  private onRefused = (err: SinkRefusal): void => {
    this.refused++;
    this.log.error({ err, key: err.key, field: err.field }, 'object refused by the network policy enforcer: its values are not written');
  };

  private policies(): NetworkPolicy[] {
    const all = this.source.policies();
    const good = this.goodPolicies.filter(all, this.onRefused);
    const kept = new Set(good.map(keyOf));
    // Refused without a last good version: isolate, allow nothing (fail closed).
    for (const p of all) if (!kept.has(keyOf(p))) good.push(isolationOnly(p));
    return good;
  }

  private pods(): Pod[] {
    const out: Pod[] = [];
    const seen = new Set<string>();
    for (const p of this.source.pods()) {
      const key = keyOf(p);
      seen.add(key);
      try {
        checkPod(p);
        this.refusedPods.delete(key);
        out.push(p);
      } catch (err) {
        if (!(err instanceof SinkRefusal)) throw err;
        if (this.refusedPods.get(key) !== err.message) this.onRefused(err);
        this.refusedPods.set(key, err.message);
      }
    }
    for (const k of [...this.refusedPods.keys()]) if (!seen.has(k)) this.refusedPods.delete(k);
    return out;
  }

  private async existingChains(): Promise<string[]> {
    const out = await run('iptables-save', ['-t', 'filter']);
    return out.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!).filter(isNetpolChain);
  }

  /** The plan last applied and when: an unchanged plan is not re-applied for FULL_SYNC_MS (pod status churn is frequent). */
  private last: { plan: string; at: number } | undefined;

  async syncOnce(): Promise<void> {
    const plan = podPolicies(this.nodeName, this.policies(), this.pods(), this.source.namespaces());
    const key = JSON.stringify(plan);
    if (this.last && this.last.plan === key && Date.now() - this.last.at < FULL_SYNC_MS) return;
    this.last = undefined;
    const input = netpolRestoreInput(plan, await this.existingChains());
    await run('iptables-restore', ['-w', '5', '--noflush'], input);
    await run('iptables', ['-w', '5', '-t', 'filter', '-C', 'FORWARD', '-j', NETPOL_CHAIN]).catch(() => run('iptables', ['-w', '5', '-t', 'filter', '-I', 'FORWARD', '1', '-j', NETPOL_CHAIN]));
    this.chains = input.split('\n').filter((l) => l.startsWith(':')).length - (input.match(/^-X /gm)?.length ?? 0);
    this.syncs++;
    this.last = { plan: key, at: Date.now() };
    this.log.debug({ pods: plan.length, chains: this.chains }, 'network policy rules programmed');
  }
}
