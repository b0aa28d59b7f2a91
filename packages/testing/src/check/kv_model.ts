// Sequential specification of a key-value register map, partitioned by key:
// each key is an independent register whose state is its value (or absent).

import { describeKvInput, describeKvOutput, fmtValue, type KvInput, type KvOperation, type KvOutput } from './history.js';
import { checkLinearizable, type CheckOptions, type CheckResult, type Model } from './linearizability.js';

/** Per-key state, boxed so that "key absent" ({ v: undefined }) differs from "illegal step" (undefined). */
export interface KvState {
  v: string | undefined;
}

const ABSENT: KvState = Object.freeze({ v: undefined });

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  partition(history) {
    const byKey = new Map<string, number[]>();
    history.forEach((op, i) => {
      let list = byKey.get(op.input.key);
      if (list === undefined) byKey.set(op.input.key, (list = []));
      list.push(i);
    });
    return byKey;
  },
  init: () => ABSENT,
  step(state, input, output) {
    if (output !== undefined && output.op !== input.op) return undefined;
    switch (input.op) {
      case 'put':
        return { v: input.value };
      case 'delete':
        return ABSENT;
      case 'get':
        if (output === undefined) return state;
        return (output as Extract<KvOutput, { op: 'get' }>).value === state.v ? state : undefined;
      case 'cas': {
        const matches = state.v === input.expected;
        if (output === undefined) return matches ? { v: input.value } : state;
        const ok = (output as Extract<KvOutput, { op: 'cas' }>).ok;
        if (ok !== matches) return undefined;
        return ok ? { v: input.value } : state;
      }
    }
  },
  stateKey: (state) => (state.v === undefined ? 'a' : 'v' + state.v),
  isReadOnly: (input) => input.op === 'get',
  describeOperation: (input, output) => `${describeKvInput(input)} -> ${describeKvOutput(output)}`,
  describeState: (state) => fmtValue(state.v),
};

/** Checks a key-value history (put/get/delete/cas) for linearizability, key by key. */
export function checkKvHistory(history: ReadonlyArray<KvOperation>, options?: CheckOptions): CheckResult {
  return checkLinearizable(kvModel, history, options);
}
