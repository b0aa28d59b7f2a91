/** The node IPAM controller: a pod CIDR for every node from --cluster-cidr, recovered from existing nodes at start. */
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { R } from '../types.js';
import { CidrSet } from './cidr_set.js';
import { nodeCidrs, reconcileNodeCidr, recoverAllocations } from './reconcile.js';

export function nodeIpamController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'nodeipam' });
  const nodes = ctx.informers.for(R.nodes);
  const set = new CidrSet(ctx.config.clusterCidr, ctx.config.nodeCidrMaskSize, ctx.config.reservedCidrs);
  let recovered = false;

  const c = new QueueController({
    name: 'nodeipam',
    workers: 1,
    log,
    metrics: ctx.metrics,
    reconcile: async (name) => {
      const node = nodes.get(name);
      if (!node) {
        set.releaseOwner(name);
        return;
      }
      const have = nodeCidrs(node);
      if (have.length > 0) {
        for (const cidr of have) {
          const r = set.occupy(cidr, name);
          if (!r.ok) log.warn({ node: name, cidr, reason: r.reason, holder: r.holder }, 'node pod CIDR conflicts; leaving it alone');
        }
        return;
      }
      const actions = reconcileNodeCidr(set, node);
      for (const a of actions) if (a.verb === 'update') log.info({ node: name, podCIDR: nodeCidrs(a.object)[0] }, 'allocated pod CIDR');
      await ctx.executor.runAll(actions);
    },
  });
  nodes.addEventHandler({ add: (n) => recovered && c.enqueue(n.metadata.name), update: (_o, n) => recovered && c.enqueue(n.metadata.name), delete: (n) => recovered && c.enqueue(n.metadata.name) });
  return {
    name: c.name,
    start: () => {
      // Everything already allocated is taken before anything new is handed out.
      for (const p of recoverAllocations(set, nodes.list())) log.warn(p, 'existing pod CIDR not recoverable');
      recovered = true;
      c.start();
      for (const k of nodes.keys()) c.enqueue(k);
    },
    stop: () => c.stop(),
  };
}
