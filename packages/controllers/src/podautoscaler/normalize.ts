/**
 * From the metrics' recommendation to the replica count the HPA sets, as
 * upstream's normalizeDesiredReplicas (no `behavior`: the highest
 * recommendation of the downscale stabilization window, then at most
 * max(2×current, 4) and within min/max) and
 * normalizeDesiredReplicasWithBehaviors (stabilization windows of scaleUp and
 * scaleDown, then the scaling policies' rate limits over the scale events of
 * each policy's period, Max/Min/Disabled). Each result carries the
 * AbleToScale and ScalingLimited reasons and messages upstream writes. The
 * per-HPA history (recommendations, scale events) is passed in and updated.
 */
import type { HPAScalingRules, HorizontalPodAutoscalerBehavior } from '@mkube/api';

export const DEFAULT_DOWNSCALE_STABILIZATION_MS = 300_000;
const SCALE_UP_LIMIT_FACTOR = 2;
const SCALE_UP_LIMIT_MINIMUM = 4;

export interface Recommendation {
  replicas: number;
  atMs: number;
}

export interface ScaleEvent {
  change: number;
  atMs: number;
  outdated?: boolean;
}

export interface HpaHistory {
  recommendations: Recommendation[];
  scaleUpEvents: ScaleEvent[];
  scaleDownEvents: ScaleEvent[];
}

export const newHistory = (): HpaHistory => ({ recommendations: [], scaleUpEvents: [], scaleDownEvents: [] });

export interface Normalized {
  replicas: number;
  ableToScale: { reason: string; message: string };
  scalingLimited: { status: 'True' | 'False'; reason: string; message: string };
}

const READY = { reason: 'ReadyForNewScale', message: 'recommended size matches current size' };
const WITHIN = { reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' };
const TOO_FEW = { reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
const TOO_MANY = { reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' };
const UP_LIMIT = { reason: 'ScaleUpLimit', message: 'the desired replica count is increasing faster than the maximum scale rate' };
const DOWN_LIMIT = { reason: 'ScaleDownLimit', message: 'the desired replica count is decreasing faster than the maximum scale rate' };

/** Keeps one sample per call, replacing one older than the window (upstream's slice reuse). */
function record(h: HpaHistory, replicas: number, nowMs: number, cutoffMs: number): void {
  const old = h.recommendations.findIndex((r) => r.atMs < cutoffMs);
  if (old >= 0) h.recommendations[old] = { replicas, atMs: nowMs };
  else h.recommendations.push({ replicas, atMs: nowMs });
}

export function normalizeDesiredReplicas(h: HpaHistory, current: number, prenormalized: number, min: number, max: number, nowMs: number, downscaleStabilizationMs = DEFAULT_DOWNSCALE_STABILIZATION_MS): Normalized {
  const cutoff = nowMs - downscaleStabilizationMs;
  let stabilized = prenormalized;
  for (const r of h.recommendations) if (r.atMs > cutoff) stabilized = Math.max(stabilized, r.replicas);
  record(h, prenormalized, nowMs, cutoff);
  const ableToScale = stabilized !== prenormalized ? { reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' } : READY;
  const scaleUpLimit = Math.max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM);
  const [maxAllowed, maxCond] = max > scaleUpLimit ? [scaleUpLimit, UP_LIMIT] : [max, TOO_MANY];
  let replicas = stabilized;
  let cond = WITHIN;
  if (stabilized < min) [replicas, cond] = [min, TOO_FEW];
  else if (stabilized > maxAllowed) [replicas, cond] = [maxAllowed, maxCond];
  return { replicas, ableToScale, scalingLimited: { status: replicas === stabilized ? 'False' : 'True', ...cond } };
}

function changeInPeriod(events: ScaleEvent[], periodSeconds: number, nowMs: number): number {
  const cutoff = nowMs - periodSeconds * 1000;
  return events.filter((e) => !e.outdated && e.atMs > cutoff).reduce((s, e) => s + e.change, 0);
}

export function scaleUpLimit(current: number, h: HpaHistory, rules: HPAScalingRules, nowMs: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pickMin = rules.selectPolicy === 'Min';
  let result = pickMin ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const start = current - changeInPeriod(h.scaleUpEvents, p.periodSeconds, nowMs) + changeInPeriod(h.scaleDownEvents, p.periodSeconds, nowMs);
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pickMin ? Math.min(result, proposed) : Math.max(result, proposed);
  }
  return result;
}

export function scaleDownLimit(current: number, h: HpaHistory, rules: HPAScalingRules, nowMs: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pickMin = rules.selectPolicy === 'Min';
  let result = pickMin ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const start = current - changeInPeriod(h.scaleUpEvents, p.periodSeconds, nowMs) + changeInPeriod(h.scaleDownEvents, p.periodSeconds, nowMs);
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    // Min picks the policy allowing the smallest change: the highest floor.
    result = pickMin ? Math.max(result, proposed) : Math.min(result, proposed);
  }
  return result;
}

export function normalizeWithBehaviors(h: HpaHistory, behavior: HorizontalPodAutoscalerBehavior, current: number, prenormalized: number, min: number, max: number, nowMs: number, downscaleStabilizationMs = DEFAULT_DOWNSCALE_STABILIZATION_MS): Normalized {
  const up: HPAScalingRules = behavior.scaleUp ?? {};
  const down: HPAScalingRules = behavior.scaleDown ?? {};
  const upCutoff = nowMs - (up.stabilizationWindowSeconds ?? 0) * 1000;
  const downCutoff = nowMs - (down.stabilizationWindowSeconds ?? downscaleStabilizationMs / 1000) * 1000;
  let upRec = prenormalized;
  let downRec = prenormalized;
  let old = -1;
  h.recommendations.forEach((r, i) => {
    if (r.atMs > upCutoff) upRec = Math.min(upRec, r.replicas);
    if (r.atMs > downCutoff) downRec = Math.max(downRec, r.replicas);
    if (r.atMs < upCutoff && r.atMs < downCutoff) old = i;
  });
  let stabilized = current;
  if (stabilized > upRec) stabilized = upRec;
  if (stabilized < downRec) stabilized = downRec;
  if (old >= 0) h.recommendations[old] = { replicas: prenormalized, atMs: nowMs };
  else h.recommendations.push({ replicas: prenormalized, atMs: nowMs });
  const ableToScale =
    stabilized === prenormalized
      ? READY
      : prenormalized >= current
        ? { reason: 'ScaleUpStabilized', message: 'recent recommendations were lower than current one, applying the lowest recent recommendation' }
        : { reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' };
  let replicas = stabilized;
  let cond = WITHIN;
  if (stabilized > current) {
    const limit = Math.max(scaleUpLimit(current, h, up, nowMs), current);
    const [maxAllowed, c] = max > limit ? [limit, UP_LIMIT] : [max, TOO_MANY];
    if (stabilized > maxAllowed) [replicas, cond] = [maxAllowed, c];
  } else if (stabilized < current) {
    const limit = Math.min(scaleDownLimit(current, h, down, nowMs), current);
    const [minAllowed, c] = min < limit ? [limit, DOWN_LIMIT] : [min, TOO_FEW];
    if (stabilized < minAllowed) [replicas, cond] = [minAllowed, c];
  }
  return { replicas, ableToScale, scalingLimited: { status: replicas === stabilized ? 'False' : 'True', ...cond } };
}

/** After a rescale with a behavior: the event, older events beyond the longest policy period marked outdated. */
export function storeScaleEvent(h: HpaHistory, behavior: HorizontalPodAutoscalerBehavior | undefined, prev: number, next: number, nowMs: number): void {
  if (!behavior) return;
  const up = next > prev;
  const rules = (up ? behavior.scaleUp : behavior.scaleDown) ?? {};
  const longest = Math.max(0, ...(rules.policies ?? []).map((p) => p.periodSeconds)) * 1000;
  const events = up ? h.scaleUpEvents : h.scaleDownEvents;
  for (const e of events) if (e.atMs <= nowMs - longest) e.outdated = true;
  const reuse = events.findIndex((e) => e.outdated);
  const ev = { change: Math.abs(next - prev), atMs: nowMs };
  if (reuse >= 0) events[reuse] = ev;
  else events.push(ev);
}
