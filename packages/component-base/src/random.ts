// The one seeded random source (mulberry32): injected randomness for protocol
// state machines (the Raft core's election timeouts) and for tests and
// simulations that must replay exactly. `seededRandom(seed)()` is in [0, 1).
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
