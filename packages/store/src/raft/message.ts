import { type Message, MessageType } from './types.js';

const EMPTY = new Uint8Array(0);

/** A Message with every field defaulted. */
export function newMessage(m: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    type: m.type,
    from: m.from ?? 0,
    to: m.to ?? 0,
    term: m.term ?? 0,
    logTerm: m.logTerm ?? 0,
    index: m.index ?? 0,
    entries: m.entries ?? [],
    commit: m.commit ?? 0,
    snapshot: m.snapshot,
    reject: m.reject ?? false,
    rejectHint: m.rejectHint ?? 0,
    context: m.context ?? EMPTY,
  };
}

/** Message types only a node generates for itself; never accepted from the network. */
export function isLocalMsg(t: MessageType): boolean {
  return t === MessageType.Hup || t === MessageType.Beat || t === MessageType.SnapStatus || t === MessageType.Unreachable;
}

export function isResponseMsg(t: MessageType): boolean {
  return (
    t === MessageType.AppResp ||
    t === MessageType.VoteResp ||
    t === MessageType.HeartbeatResp ||
    t === MessageType.Unreachable ||
    t === MessageType.PreVoteResp
  );
}

export function voteRespType(t: MessageType): MessageType {
  if (t === MessageType.Vote) return MessageType.VoteResp;
  if (t === MessageType.PreVote) return MessageType.PreVoteResp;
  throw new Error(`raft: not a vote message: ${t}`);
}

/** Context marking a Vote as part of a leadership transfer (bypasses the leader lease). */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

export function isCampaignTransfer(ctx: Uint8Array): boolean {
  if (ctx.byteLength !== CAMPAIGN_TRANSFER.byteLength) return false;
  for (let i = 0; i < ctx.byteLength; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}
