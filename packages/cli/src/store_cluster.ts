// The store's membership as a control plane sees it: every member (MemberList through any reachable one), which
// are started (answer Status), the leader and the learners; and etcd's quorum rule for removing a member
// (--strict-reconfig-check: the voters left must still have a started majority).
import type { Member } from '@mkube/store/client';
import { storeClient, type StorePki } from './store_member.js';

export interface MemberView {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  learner: boolean;
  started: boolean;
  leader: boolean;
  /** Why Status failed (not started or unreachable). */
  error?: string;
}

export interface StoreView {
  members: MemberView[];
  leader?: string;
  revision?: number;
  raftTerm?: number;
  raftIndex?: number;
  error?: string;
}

type Pki = Pick<StorePki, 'caFile' | 'clientCert' | 'clientKey'>;

const hex = (id: string) => BigInt(id).toString(16);

/** Probes the store through `endpoints` (any member's client URL): members with their state. */
export async function viewStore(pki: Pki, endpoints: string[]): Promise<StoreView> {
  const client = storeClient(pki, endpoints);
  let members: Member[];
  try {
    members = (await client.memberList()).members;
  } catch (err) {
    return { members: [], error: (err as Error).message.split('\n')[0] };
  } finally {
    client.close();
  }
  let leader: string | undefined;
  let revision: number | undefined;
  let raftTerm: number | undefined;
  let raftIndex: number | undefined;
  const views = await Promise.all(members.map(async (m): Promise<MemberView> => {
    const base = { id: hex(m.id), name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, learner: m.isLearner, leader: false };
    if (m.clientURLs.length === 0) return { ...base, started: false, error: 'not started (no client URLs yet)' };
    const one = storeClient(pki, m.clientURLs);
    try {
      const s = await one.status();
      if (s.leader !== '0' && (raftTerm === undefined || s.raftTerm >= raftTerm)) {
        leader = hex(s.leader);
        raftTerm = s.raftTerm;
      }
      raftIndex = Math.max(raftIndex ?? 0, s.raftIndex);
      revision = Math.max(revision ?? 0, s.header.revision);
      return { ...base, started: true };
    } catch (err) {
      return { ...base, started: false, error: (err as Error).message.split('\n')[0] };
    } finally {
      one.close();
    }
  }));
  for (const v of views) v.leader = v.id === leader;
  return { members: views, leader, revision, raftTerm, raftIndex };
}

/**
 * Whether removing member `id` keeps a quorum: after it, the voters left must include a started majority
 * (etcd's strict reconfiguration check). Removing a learner never breaks quorum.
 */
export function removalKeepsQuorum(view: StoreView, id: string): { ok: boolean; voters: number; started: number; needed: number } {
  const target = view.members.find((m) => m.id === id);
  const voters = view.members.filter((m) => !m.learner && m.id !== id);
  const started = voters.filter((m) => m.started).length;
  const needed = Math.floor(voters.length / 2) + 1;
  if (target?.learner) return { ok: true, voters: voters.length, started, needed };
  return { ok: voters.length > 0 && started >= needed, voters: voters.length, started, needed };
}
