/**
 * When to renew a certificate, as kubelet's certificate manager: at a
 * jittered point between 70 % and 90 % of its lifetime
 * (notBefore + lifetime × (0.7 + 0.2 × random)), and a capped exponential
 * back-off between failed attempts.
 */
export function rotationDeadline(notBeforeMs: number, notAfterMs: number, random: () => number = Math.random): number {
  const total = notAfterMs - notBeforeMs;
  return notBeforeMs + Math.floor(total * (0.7 + 0.2 * random()));
}

/** Delay before retry number `attempt` (0-based): 2 s doubling to 5 min, as kubelet's rotation back-off. */
export function retryDelayMs(attempt: number): number {
  return Math.min(2_000 * 2 ** attempt, 5 * 60_000);
}
