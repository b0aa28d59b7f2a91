// Majority quorum arithmetic over a set of voters.

import type { NodeId } from './types.js';

export enum VoteResult {
  Pending = 'Pending',
  Lost = 'Lost',
  Won = 'Won',
}

/**
 * The largest index acknowledged by a majority of voters. An empty voter set
 * yields Infinity (as etcd), so it never restricts anything by itself.
 */
export function majorityCommitted(voters: Iterable<NodeId>, matchOf: (id: NodeId) => number): number {
  const idx: number[] = [];
  for (const id of voters) idx.push(matchOf(id));
  if (idx.length === 0) return Number.POSITIVE_INFINITY;
  idx.sort((a, b) => b - a);
  return idx[Math.floor(idx.length / 2)]!;
}

/** Tally votes (true = granted) of voters; missing voters are pending. */
export function voteResult(voters: Iterable<NodeId>, votes: Map<NodeId, boolean>): VoteResult {
  let n = 0;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    n++;
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  if (n === 0) return VoteResult.Won;
  const q = Math.floor(n / 2) + 1;
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}

/** Whether a majority of voters are in `active`. */
export function quorumActive(voters: Iterable<NodeId>, isActive: (id: NodeId) => boolean): boolean {
  const votes = new Map<NodeId, boolean>();
  for (const id of voters) votes.set(id, isActive(id));
  return voteResult(voters, votes) === VoteResult.Won;
}
