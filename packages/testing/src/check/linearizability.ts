// Linearizability checking of concurrent histories.
//
// The search is Wing & Gong's: repeatedly pick an operation that could take
// effect next (its call precedes the earliest return among the operations not
// yet linearized), apply it to a sequential model, and backtrack when the
// model rejects what the client observed. Lowe's memoization cuts it down:
// a (set of linearized operations, model state) pair that was explored once
// is never explored again (this is the cache Porcupine keeps).
//
// Histories are checked per partition (P-compositionality: a history over
// independent objects is linearizable iff each object's sub-history is), which
// is what makes thousands of operations tractable.
//
// Operations with an unknown outcome (return undefined) may take effect at any
// point after their call, or never: their return is placed at +infinity and the
// model accepts any output for them; "never" is the same as "last", which the
// search short-cuts by succeeding as soon as only such operations remain.

import type { Operation } from './history.js';

export interface Model<S, I, O> {
  /** Splits a history into independently checkable sub-histories (e.g. by key). */
  partition?(history: ReadonlyArray<Operation<I, O>>): Map<string, number[]>;
  init(): S;
  /**
   * Applies `input` to `state`. With a known `output`, returns undefined when the
   * sequential object could not have produced it. With `output` undefined (unknown
   * outcome), always returns the state after the operation.
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** Canonical string of a state: equal strings ⇔ equal states. */
  stateKey(state: S): string;
  /** True when the operation never changes the state (reads): unknown-outcome ones are dropped. */
  isReadOnly(input: I): boolean;
  describeOperation(input: I, output: O | undefined): string;
  describeState(state: S): string;
}

export interface CheckOptions {
  /** Give up and answer `ok: 'unknown'` once the search has run this long (default 10 s). */
  timeBudgetMs?: number;
  /** Clock for the budget (ms); default performance.now. */
  now?: () => number;
  /**
   * Refuse (CHECK_HISTORY_UNBOUNDED) a history with a partition larger than this: the
   * generator bounds each key's history (KeyWindows) so the search always decides.
   */
  maxPartitionOperations?: number;
}

export interface FragmentOperation {
  /** Index of the operation in the history given to the checker. */
  index: number;
  clientId: number;
  call: number;
  return: number | undefined;
  description: string;
}

export interface IllegalFragment {
  /** State of the object before `linearized[0]`. */
  stateBefore: string;
  /** Tail of the longest partial linearization the search found, in order, with the state after each. */
  linearized: Array<FragmentOperation & { stateAfter: string }>;
  /** Number of operations of the partial linearization that are not shown (before `linearized`). */
  omittedBefore: number;
  /** The completed operation that could not be linearized (no order lets it return what it returned). */
  blocked: FragmentOperation;
  /** Other operations that were still candidates at that point (overlapping `blocked`). */
  concurrent: FragmentOperation[];
}

export type CheckResult =
  | { ok: true; partitions: number; operations: number; largestPartition: number }
  | { ok: false; key: string; fragment: IllegalFragment; description: string }
  | { ok: 'unknown'; reason: string; undecidedKeys: string[] };

const DEFAULT_BUDGET_MS = 10_000;
const CLOCK_CHECK_EVERY = 512;
const FRAGMENT_TAIL = 8;

export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: ReadonlyArray<Operation<I, O>>,
  options: CheckOptions = {},
): CheckResult {
  const now = options.now ?? (() => performance.now());
  const deadline = now() + (options.timeBudgetMs ?? DEFAULT_BUDGET_MS);
  for (const [i, op] of history.entries()) {
    if (op.return !== undefined && op.return < op.call) {
      throw new CheckError('CHECK_BAD_HISTORY', `operation ${i} returns at ${op.return} before its call at ${op.call}`);
    }
  }
  const partitions = model.partition ? model.partition(history) : new Map([['', history.map((_, i) => i)]]);
  let largestPartition = 0;
  for (const [key, indices] of partitions) {
    largestPartition = Math.max(largestPartition, indices.length);
    if (options.maxPartitionOperations !== undefined && indices.length > options.maxPartitionOperations) {
      throw new CheckError('CHECK_HISTORY_UNBOUNDED', `partition ${JSON.stringify(key)} holds ${indices.length} operations, more than the bound of ${options.maxPartitionOperations}`);
    }
  }
  const undecided: string[] = [];
  let operations = 0;
  for (const [key, indices] of partitions) {
    const outcome = checkPartition(model, history, indices, deadline, now);
    operations += indices.length;
    if (outcome.kind === 'illegal') {
      return { ok: false, key, fragment: outcome.fragment, description: describeFragment(key, outcome.fragment) };
    }
    if (outcome.kind === 'timeout') undecided.push(key);
  }
  if (undecided.length > 0) {
    return { ok: 'unknown', reason: `time budget exhausted with ${undecided.length} partition(s) undecided`, undecidedKeys: undecided };
  }
  return { ok: true, partitions: partitions.size, operations, largestPartition };
}

export class CheckError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`linearizability: ${message}`);
  }
}

interface Entry {
  /** Position of the operation within the partition. */
  op: number;
  isCall: boolean;
  time: number;
  /** For a call: its return entry. */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

type PartitionOutcome = { kind: 'ok' } | { kind: 'timeout' } | { kind: 'illegal'; fragment: IllegalFragment };

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  history: ReadonlyArray<Operation<I, O>>,
  allIndices: number[],
  deadline: number,
  now: () => number,
): PartitionOutcome {
  // Unknown-outcome reads observed nothing and changed nothing: drop them.
  const indices = allIndices.filter((i) => {
    const op = history[i]!;
    return !(op.return === undefined && model.isReadOnly(op.input));
  });
  const n = indices.length;
  if (n === 0) return { kind: 'ok' };
  const ops = indices.map((i) => history[i]!);

  // Event list: calls and returns by time; at equal times calls first (such
  // operations are treated as concurrent), ties broken by position.
  const events: Entry[] = [];
  for (let k = 0; k < n; k++) {
    const op = ops[k]!;
    const ret: Entry = { op: k, isCall: false, time: op.return ?? Infinity, match: undefined, prev: undefined, next: undefined };
    const call: Entry = { op: k, isCall: true, time: op.call, match: ret, prev: undefined, next: undefined };
    events.push(call, ret);
  }
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Entry = { op: -1, isCall: false, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }

  let knownRemaining = 0;
  for (const op of ops) if (op.return !== undefined) knownRemaining++;

  const words = new Uint32Array((n + 31) >>> 5);
  const bitsetKey = (): string => {
    let s = '';
    for (let w = 0; w < words.length; w++) {
      const v = words[w]!;
      s += String.fromCharCode(v & 0xffff, v >>> 16);
    }
    return s;
  };
  const cache = new Set<string>();
  const calls: Array<{ entry: Entry; state: S }> = [];
  let state = model.init();

  // Deepest dead end seen, for the failure report.
  let best: { sequence: Array<{ op: number; state: S }>; blocked: number; candidates: number[] } | undefined;

  const lift = (call: Entry): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Entry): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  let entry: Entry | undefined = head.next;
  let iterations = 0;
  while (knownRemaining > 0) {
    if (++iterations % CLOCK_CHECK_EVERY === 0 && now() > deadline) return { kind: 'timeout' };
    if (entry === undefined) {
      // Cannot happen: a list with known-outcome operations left ends in a return entry.
      throw new CheckError('CHECK_INTERNAL', 'ran off the event list');
    }
    if (entry.isCall) {
      const k = entry.op;
      const op = ops[k]!;
      const next = model.step(state, op.input, op.return === undefined ? undefined : op.output);
      if (next !== undefined) {
        const w = k >>> 5;
        const bit = 1 << (k & 31);
        words[w] = words[w]! | bit;
        const key = bitsetKey() + '\u0000' + model.stateKey(next);
        if (!cache.has(key)) {
          cache.add(key);
          calls.push({ entry, state });
          state = next;
          if (op.return !== undefined) knownRemaining--;
          lift(entry);
          entry = head.next;
          continue;
        }
        words[w] = words[w]! & ~bit;
      }
      entry = entry.next;
    } else {
      // A return: every operation still open must come after this one, so this
      // branch is a dead end.
      if (best === undefined || calls.length > best.sequence.length) {
        const candidates: number[] = [];
        for (let e = head.next; e !== undefined && e !== entry; e = e.next) if (e.isCall && e.op !== entry.op) candidates.push(e.op);
        const sequence: Array<{ op: number; state: S }> = [];
        for (let j = 0; j < calls.length; j++) sequence.push({ op: calls[j]!.entry.op, state: j + 1 < calls.length ? calls[j + 1]!.state : state });
        best = { sequence, blocked: entry.op, candidates };
      }
      const top = calls.pop();
      if (top === undefined) break;
      entry = top.entry;
      state = top.state;
      const k = entry.op;
      words[k >>> 5] = words[k >>> 5]! & ~(1 << (k & 31));
      if (ops[k]!.return !== undefined) knownRemaining++;
      unlift(entry);
      entry = entry.next;
    }
  }
  if (knownRemaining === 0) return { kind: 'ok' };

  // Illegal: build the report from the deepest dead end.
  const b = best!;
  const fragOp = (k: number): FragmentOperation => {
    const op = ops[k]!;
    return {
      index: indices[k]!,
      clientId: op.clientId,
      call: op.call,
      return: op.return,
      description: model.describeOperation(op.input, op.return === undefined ? undefined : op.output),
    };
  };
  const tailStart = Math.max(0, b.sequence.length - FRAGMENT_TAIL);
  const stateBefore = tailStart === 0 ? model.init() : b.sequence[tailStart - 1]!.state;
  return {
    kind: 'illegal',
    fragment: {
      stateBefore: model.describeState(stateBefore),
      linearized: b.sequence.slice(tailStart).map((s) => ({ ...fragOp(s.op), stateAfter: model.describeState(s.state) })),
      omittedBefore: tailStart,
      blocked: fragOp(b.blocked),
      concurrent: b.candidates.map(fragOp),
    },
  };
}

function fmtTime(t: number | undefined): string {
  return t === undefined ? '?' : String(t);
}

function fmtOp(op: FragmentOperation): string {
  return `#${op.index} client ${op.clientId} [${op.call}, ${fmtTime(op.return)}] ${op.description}`;
}

export function describeFragment(key: string, f: IllegalFragment): string {
  const lines = [`not linearizable on ${JSON.stringify(key)}:`];
  lines.push(`  longest legal order found (${f.omittedBefore} earlier ops omitted), starting from state ${f.stateBefore}:`);
  for (const op of f.linearized) lines.push(`    ${fmtOp(op)}  => ${op.stateAfter}`);
  lines.push(`  cannot linearize: ${fmtOp(f.blocked)}`);
  if (f.concurrent.length > 0) {
    lines.push('  with these still open (tried before it):');
    for (const op of f.concurrent) lines.push(`    ${fmtOp(op)}`);
  }
  return lines.join('\n');
}
