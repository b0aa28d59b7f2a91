// Waiting on conditions, never on sleeps: `eventually` and `waitFor` poll a
// check until it yields a value (anything but undefined, null or false) or the
// deadline passes; a check that throws is retried and its last error is in the
// timeout message.
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface PollOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Poll interval (default 50 ms). */
  everyMs?: number;
}

type Found<T> = Exclude<T, undefined | null | false>;

async function poll<T>(what: string, check: () => T | Promise<T>, timeoutMs: number, everyMs: number): Promise<Found<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== null && v !== false) return v as Found<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last === undefined ? '' : `: ${last instanceof Error ? last.message : String(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`, last === undefined ? undefined : { cause: last });
    }
    await sleep(everyMs);
  }
}

/** Polls `check` until it yields a value; `eventually('pod ready', () => ..., 20_000)`. */
export function eventually<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<Found<T>> {
  return poll(what, check, timeoutMs, everyMs);
}

/** The same poll with the timeout first (the node agent's tests' order): `waitFor('etcd', 20_000, () => ...)`. */
export function waitFor<T>(what: string, timeoutMs: number, check: () => T | Promise<T>, everyMs = 100): Promise<Found<T>> {
  return poll(what, check, timeoutMs, everyMs);
}
