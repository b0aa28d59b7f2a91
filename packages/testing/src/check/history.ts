// Client histories for linearizability checking.
//
// An operation is what one client saw: when it invoked a request (`call`), when
// it got the answer (`return`) and what it asked/was told. Times are any
// monotonic clock (logical ticks, hrtime, ms) shared by all clients of one
// history. An operation whose outcome is unknown (the client timed out, lost
// its connection or crashed) has `return: undefined`: it may have taken effect
// at any point after its call, or never.

export interface Operation<I, O> {
  clientId: number;
  /** Time the request was issued. */
  call: number;
  /** Time the answer arrived; undefined = unknown outcome. */
  return: number | undefined;
  input: I;
  /** The observed result; undefined when `return` is undefined. */
  output: O | undefined;
}

export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'delete'; key: string }
  /** `expected: undefined` means "the key must be absent". */
  | { op: 'cas'; key: string; expected: string | undefined; value: string };

export type KvOutput =
  | { op: 'put' }
  | { op: 'get'; value: string | undefined }
  | { op: 'delete' }
  | { op: 'cas'; ok: boolean };

export type KvOperation = Operation<KvInput, KvOutput>;

/** Handle for an operation whose call has been recorded and whose outcome is still open. */
export interface PendingOperation {
  readonly index: number;
}

/**
 * Records a history as clients run. `call` when a request is issued, then exactly
 * one of `ok` (answer observed), `unknown` (gave up: may or may not have happened)
 * or `fail` (definitely did not take effect — the operation is dropped from the
 * history). Operations still open when `history()` is read are reported unknown.
 */
export class HistoryRecorder<I, O> {
  private readonly ops: Array<Operation<I, O> | undefined> = [];
  private readonly open = new Set<number>();

  call(clientId: number, input: I, time: number): PendingOperation {
    const index = this.ops.length;
    this.ops.push({ clientId, call: time, return: undefined, input, output: undefined });
    this.open.add(index);
    return { index };
  }

  ok(pending: PendingOperation, output: O, time: number): void {
    const op = this.take(pending);
    if (time < op.call) {
      throw new HistoryError('HISTORY_TIME_REVERSED', `operation ${pending.index} returned at ${time} before its call at ${op.call}`);
    }
    op.return = time;
    op.output = output;
  }

  unknown(pending: PendingOperation): void {
    this.take(pending);
  }

  fail(pending: PendingOperation): void {
    this.take(pending);
    this.ops[pending.index] = undefined;
  }

  /** Number of recorded operations (excluding failed ones). */
  get size(): number {
    return this.ops.reduce((n, op) => (op === undefined ? n : n + 1), 0);
  }

  history(): Array<Operation<I, O>> {
    const out: Array<Operation<I, O>> = [];
    for (const op of this.ops) if (op !== undefined) out.push({ ...op });
    return out;
  }

  private take(pending: PendingOperation): Operation<I, O> {
    const op = this.ops[pending.index];
    if (op === undefined || !this.open.has(pending.index)) {
      throw new HistoryError('HISTORY_NOT_OPEN', `operation ${pending.index} is not open`);
    }
    this.open.delete(pending.index);
    return op;
  }
}

export class HistoryError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`history: ${message}`);
  }
}

export function describeKvInput(input: KvInput): string {
  switch (input.op) {
    case 'put':
      return `put(${JSON.stringify(input.key)}, ${JSON.stringify(input.value)})`;
    case 'get':
      return `get(${JSON.stringify(input.key)})`;
    case 'delete':
      return `delete(${JSON.stringify(input.key)})`;
    case 'cas':
      return `cas(${JSON.stringify(input.key)}, ${fmtValue(input.expected)} -> ${JSON.stringify(input.value)})`;
  }
}

export function describeKvOutput(output: KvOutput | undefined): string {
  if (output === undefined) return '?';
  switch (output.op) {
    case 'put':
    case 'delete':
      return 'ok';
    case 'get':
      return fmtValue(output.value);
    case 'cas':
      return output.ok ? 'ok' : 'failed';
  }
}

export function fmtValue(v: string | undefined): string {
  return v === undefined ? '<absent>' : JSON.stringify(v);
}
