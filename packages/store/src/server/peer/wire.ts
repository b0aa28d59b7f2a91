// Peer wire format: conversion between the Raft core's Message and the
// protobuf messages of proto/mkube/raft_peer.proto.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { protoRoot } from '../proto_root.js';
import { decodeBatch, encodeBatch } from './batch_codec.js';
import { EntryType, MessageType, type Entry, type Message, type Snapshot } from '../../raft/types.js';

export interface WireEntry { term: number; index: number; type: number; data: Buffer }
export interface WireSnapshot { metadata: { index: number; term: number; confState: { voters: number[]; learners: number[] } | null } | null; data: Buffer }
export interface WireMessage {
  type: number; from: number; to: number; term: number; logTerm: number; index: number;
  entries: WireEntry[]; commit: number; snapshot: WireSnapshot | null; reject: boolean; rejectHint: number; context: Buffer;
}
export interface MessageBatch { clusterId: number; from: number; messages: WireMessage[] }
export interface SnapshotChunk { clusterId: number; message: WireMessage | null; data: Buffer; last: boolean }
export interface WireMember { id: number; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean }

const packageDefinition = protoLoader.loadSync(join(protoRoot(), 'mkube', 'raft_peer.proto'), {
  keepCase: false,
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  mkube: { store: { peer: { v1: { RaftPeer: grpc.ServiceClientConstructor } } } };
};
export const RaftPeerClient = loaded.mkube.store.peer.v1.RaftPeer;
/**
 * The service as the member serves and calls it: Send's batches (every Raft message) with the
 * hand-written codec of batch_codec.ts — the same bytes as protobufjs', without its message objects.
 */
export const raftPeerService: grpc.ServiceDefinition = {
  ...RaftPeerClient.service,
  Send: {
    ...RaftPeerClient.service['Send']!,
    requestSerialize: (b: MessageBatch) => encodeBatch(b),
    requestDeserialize: (buf: Buffer) => decodeBatch(buf),
  } as grpc.MethodDefinition<MessageBatch, object>,
};
/** Send's serializer writing into a buffer with 5 bytes free in front (the gRPC frame header: server/grpc/client.ts). */
export const encodeBatchFramed = (b: MessageBatch): Buffer => encodeBatch(b, 5);

// Message types on the wire are small integers; the table order is part of the protocol.
const TYPE_ORDER: MessageType[] = [
  MessageType.Hup, MessageType.Beat, MessageType.Prop, MessageType.App, MessageType.AppResp,
  MessageType.Vote, MessageType.VoteResp, MessageType.PreVote, MessageType.PreVoteResp, MessageType.Snap,
  MessageType.SnapStatus, MessageType.Heartbeat, MessageType.HeartbeatResp, MessageType.Unreachable,
  MessageType.TransferLeader, MessageType.TimeoutNow, MessageType.ReadIndex, MessageType.ReadIndexResp,
];
const TYPE_NUMBER = new Map(TYPE_ORDER.map((t, i) => [t, i] as const));
/** Types a peer may legitimately send; local-only ones (Hup, Beat, SnapStatus, Unreachable) are refused. */
const REMOTE_TYPES = new Set<MessageType>([
  MessageType.Prop, MessageType.App, MessageType.AppResp, MessageType.Vote, MessageType.VoteResp,
  MessageType.PreVote, MessageType.PreVoteResp, MessageType.Snap, MessageType.Heartbeat, MessageType.HeartbeatResp,
  MessageType.TransferLeader, MessageType.TimeoutNow, MessageType.ReadIndex, MessageType.ReadIndexResp,
]);

export class MalformedPeerMessageError extends Error {
  readonly code = 'MALFORMED_PEER_MESSAGE';
  constructor(reason: string) {
    super(`malformed peer message: ${reason}`);
  }
}

function toWireSnapshot(s: Snapshot): WireSnapshot {
  return {
    metadata: { index: s.metadata.index, term: s.metadata.term, confState: { voters: s.metadata.confState.voters, learners: s.metadata.confState.learners } },
    data: Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength),
  };
}

export function toWire(m: Message): WireMessage {
  const type = TYPE_NUMBER.get(m.type);
  if (type === undefined) throw new MalformedPeerMessageError(`unknown type ${m.type}`);
  return {
    type, from: m.from, to: m.to, term: m.term, logTerm: m.logTerm, index: m.index,
    entries: m.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength) })),
    commit: m.commit,
    snapshot: m.snapshot ? toWireSnapshot(m.snapshot) : null,
    reject: m.reject, rejectHint: m.rejectHint,
    context: Buffer.from(m.context.buffer, m.context.byteOffset, m.context.byteLength),
  };
}

function checkSafeInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new MalformedPeerMessageError(`${name} ${v} is not a valid non-negative integer`);
  return v;
}

/** Validates and converts a decoded peer message; throws MalformedPeerMessageError. */
export function fromWire(w: WireMessage): Message {
  const type = TYPE_ORDER[w.type];
  if (type === undefined || !REMOTE_TYPES.has(type)) throw new MalformedPeerMessageError(`message type ${w.type} is not accepted from a peer`);
  const entries: Entry[] = w.entries.map((e) => {
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) throw new MalformedPeerMessageError(`entry type ${e.type}`);
    return { term: checkSafeInt('entry term', e.term), index: checkSafeInt('entry index', e.index), type: e.type, data: e.data };
  });
  let snapshot: Snapshot | undefined;
  if (w.snapshot && w.snapshot.metadata) {
    const md = w.snapshot.metadata;
    snapshot = {
      metadata: {
        index: checkSafeInt('snapshot index', md.index),
        term: checkSafeInt('snapshot term', md.term),
        confState: { voters: md.confState?.voters ?? [], learners: md.confState?.learners ?? [] },
      },
      data: w.snapshot.data,
    };
  }
  if (type === MessageType.Snap && !snapshot) throw new MalformedPeerMessageError('Snap message without snapshot');
  return {
    type,
    from: checkSafeInt('from', w.from),
    to: checkSafeInt('to', w.to),
    term: checkSafeInt('term', w.term),
    logTerm: checkSafeInt('logTerm', w.logTerm),
    index: checkSafeInt('index', w.index),
    entries,
    commit: checkSafeInt('commit', w.commit),
    snapshot,
    reject: w.reject,
    rejectHint: checkSafeInt('rejectHint', w.rejectHint),
    context: w.context,
  };
}
