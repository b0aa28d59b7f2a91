// Values that are synchronous when they can be: an apply that needs no LevelDB
// read runs to the end inside the call, one that does continues after the read.
// These helpers chain such values without turning every step into a promise.

export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return v instanceof Promise;
}

/** Continues with `f` synchronously when `v` is a value, after it resolves when it is a promise. */
export function then<T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromise(v) ? v.then(f) : f(v);
}

/** Runs `f` on each item in order, synchronously while `f` returns values; stops after the first `false`. */
export function eachInOrder<T>(items: readonly T[], f: (item: T) => MaybePromise<boolean>): MaybePromise<void> {
  let i = 0;
  const step = (): MaybePromise<void> => {
    while (i < items.length) {
      const r = f(items[i++]!);
      if (isPromise(r)) return r.then((cont) => (cont ? step() : undefined));
      if (!r) return;
    }
  };
  return step();
}
