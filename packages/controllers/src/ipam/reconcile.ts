/** Node IPAM: give every node without a pod CIDR the next free one; recover allocations from existing nodes. */
import type { Node } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import type { CidrSet } from './cidr_set.js';

export function nodeCidrs(node: Node): string[] {
  const list = node.spec?.podCIDRs ?? [];
  if (list.length) return list;
  return node.spec?.podCIDR ? [node.spec.podCIDR] : [];
}

/**
 * Marks the CIDRs of existing nodes used (call for every node before
 * allocating anything). Returns conflicts: nodes whose CIDR another node
 * already holds, or that lie outside the cluster CIDR.
 */
export function recoverAllocations(set: CidrSet, nodes: Named<Node>[]): Array<{ node: string; cidr: string; reason: string; holder?: string }> {
  const problems: Array<{ node: string; cidr: string; reason: string; holder?: string }> = [];
  for (const n of nodes) {
    for (const c of nodeCidrs(n)) {
      const r = set.occupy(c, n.metadata.name);
      if (!r.ok) problems.push({ node: n.metadata.name, cidr: c, reason: r.reason, holder: r.holder });
    }
  }
  return problems;
}

/** The update that gives `node` a pod CIDR, or nothing when it has one. */
export function reconcileNodeCidr(set: CidrSet, node: Named<Node>): Action[] {
  if (nodeCidrs(node).length > 0 || node.metadata.deletionTimestamp) return [];
  const cidr = set.allocateNext(node.metadata.name);
  const next = structuredClone(node);
  next.spec = { ...(next.spec ?? {}), podCIDR: cidr, podCIDRs: [cidr] };
  return [{ verb: 'update', ref: R.nodes, object: next }];
}
