// The replicated state machine of the simulator: a key-value map with client
// sessions. Each log entry carries one client command; a client retries a
// request with the same request id, and the session table makes a retried
// command that was already applied a no-op that answers with the first result
// (without it a retry could take effect twice).

import type { KvInput, KvOutput } from '@mkube/testing';

export interface Command {
  client: number;
  request: number;
  input: KvInput;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCommand(cmd: Command): Uint8Array {
  return enc.encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): Command {
  return JSON.parse(dec.decode(data)) as Command;
}

interface Session {
  request: number;
  output: KvOutput;
}

export class KvStateMachine {
  private data = new Map<string, string>();
  private sessions = new Map<number, Session>();

  /** Applies a command; returns its result (the cached one for a duplicate, undefined for a stale retry). */
  apply(cmd: Command): KvOutput | undefined {
    const s = this.sessions.get(cmd.client);
    if (s !== undefined && cmd.request <= s.request) return cmd.request === s.request ? s.output : undefined;
    const output = this.execute(cmd.input);
    this.sessions.set(cmd.client, { request: cmd.request, output });
    return output;
  }

  get(key: string): string | undefined {
    return this.data.get(key);
  }

  serialize(): Uint8Array {
    const sessions = [...this.sessions.entries()].sort((a, b) => a[0] - b[0]);
    const data = [...this.data.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return enc.encode(JSON.stringify({ data, sessions }));
  }

  static restore(bytes: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (bytes.byteLength === 0) return sm;
    const parsed = JSON.parse(dec.decode(bytes)) as { data: Array<[string, string]>; sessions: Array<[number, Session]> };
    sm.data = new Map(parsed.data);
    sm.sessions = new Map(parsed.sessions);
    return sm;
  }

  /** Canonical digest of the whole state, to compare members at the same applied index. */
  digest(): string {
    return new TextDecoder().decode(this.serialize());
  }

  private execute(input: KvInput): KvOutput {
    switch (input.op) {
      case 'put':
        this.data.set(input.key, input.value);
        return { op: 'put' };
      case 'delete':
        this.data.delete(input.key);
        return { op: 'delete' };
      case 'get':
        return { op: 'get', value: this.data.get(input.key) };
      case 'cas': {
        const ok = this.data.get(input.key) === input.expected;
        if (ok) this.data.set(input.key, input.value);
        return { op: 'cas', ok };
      }
    }
  }
}
