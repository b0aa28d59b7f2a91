// The quorum check before removing a member (etcd's --strict-reconfig-check,
// on by default in etcd 3.4): removing a learner is always allowed; removing
// a voter is refused with "etcdserver: re-configuration failed due to not
// enough started members" when the voters left could not form a quorum with
// the members that are live now (self, and each other voter answering a peer
// probe). The caller may skip it (mkube's forced removal, e.g. `mkube leave
// --force`), and logs a warning when it does.
import { EtcdError } from '../api/etcd_error.js';

export interface VoterRemoval {
  /** The member to remove. */
  id: number;
  /** The member running the check (live by definition). */
  self: number;
  voters: readonly number[];
  /** Whether another member answers now. */
  probe(peer: number): Promise<boolean>;
}

export interface RemovalVerdict {
  remaining: number;
  quorum: number;
  live: number[];
}

/** Throws EtcdError NotEnoughStartedMembers when the removal would leave no live quorum; returns what it counted. */
export async function checkVoterRemoval(r: VoterRemoval): Promise<RemovalVerdict> {
  const remaining = r.voters.filter((v) => v !== r.id);
  const quorum = Math.floor(remaining.length / 2) + 1;
  if (!r.voters.includes(r.id)) return { remaining: remaining.length, quorum, live: [] }; // a learner: no vote to lose
  const answers = await Promise.all(remaining.map(async (v) => (v === r.self ? true : await r.probe(v).catch(() => false))));
  const live = remaining.filter((_, i) => answers[i]);
  if (live.length < quorum) throw new EtcdError('NotEnoughStartedMembers', 'etcdserver: re-configuration failed due to not enough started members');
  return { remaining: remaining.length, quorum, live };
}
