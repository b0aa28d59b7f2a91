/**
 * Resource arithmetic for scheduling: a pod's effective request (as
 * Kubernetes computes it: max(sum of containers + sidecars, max of init
 * containers) + overhead), node allocatable, and the "non-zero" requests used
 * by scoring (100m CPU / 200Mi memory for containers that request nothing).
 */
import { parseQuantity, quantityMilliValue, quantityValue } from '@mkube/api';
import type { Container, SchedulerNode, SchedulerPod, ResourceList } from './types.js';

export const CPU = 'cpu';
export const MEMORY = 'memory';
export const EPHEMERAL_STORAGE = 'ephemeral-storage';
export const PODS = 'pods';

export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

/** CPU in millicores, everything else in integer units (bytes, counts). */
export class Resource {
  milliCPU = 0;
  memory = 0;
  ephemeralStorage = 0;
  allowedPodNumber = 0;
  scalar: Map<string, number> | null = null;

  static fromList(list: ResourceList | undefined): Resource {
    const r = new Resource();
    if (!list) return r;
    for (const [name, raw] of Object.entries(list)) r.setFromQuantity(name, raw);
    return r;
  }

  setFromQuantity(name: string, raw: string | number): void {
    const q = parseQuantity(String(raw));
    switch (name) {
      case CPU: this.milliCPU = quantityMilliValue(q); break;
      case MEMORY: this.memory = quantityValue(q); break;
      case EPHEMERAL_STORAGE: this.ephemeralStorage = quantityValue(q); break;
      case PODS: this.allowedPodNumber = quantityValue(q); break;
      default:
        if (isScalarResource(name)) this.setScalar(name, quantityValue(q));
    }
  }

  getScalar(name: string): number {
    return this.scalar?.get(name) ?? 0;
  }

  setScalar(name: string, v: number): void {
    (this.scalar ??= new Map()).set(name, v);
  }

  add(o: Resource, sign = 1): void {
    this.milliCPU += sign * o.milliCPU;
    this.memory += sign * o.memory;
    this.ephemeralStorage += sign * o.ephemeralStorage;
    this.allowedPodNumber += sign * o.allowedPodNumber;
    if (o.scalar) for (const [k, v] of o.scalar) this.setScalar(k, this.getScalar(k) + sign * v);
  }

  /** Element-wise maximum, in place. */
  setMax(o: Resource): void {
    this.milliCPU = Math.max(this.milliCPU, o.milliCPU);
    this.memory = Math.max(this.memory, o.memory);
    this.ephemeralStorage = Math.max(this.ephemeralStorage, o.ephemeralStorage);
    this.allowedPodNumber = Math.max(this.allowedPodNumber, o.allowedPodNumber);
    if (o.scalar) for (const [k, v] of o.scalar) this.setScalar(k, Math.max(this.getScalar(k), v));
  }

  clone(): Resource {
    const r = new Resource();
    r.milliCPU = this.milliCPU;
    r.memory = this.memory;
    r.ephemeralStorage = this.ephemeralStorage;
    r.allowedPodNumber = this.allowedPodNumber;
    if (this.scalar) r.scalar = new Map(this.scalar);
    return r;
  }

  isZero(): boolean {
    return this.milliCPU === 0 && this.memory === 0 && this.ephemeralStorage === 0 &&
      (!this.scalar || [...this.scalar.values()].every((v) => v === 0));
  }
}

/** Extended resources (example.com/foo), hugepages-*, attachable volumes: anything but the native ones. */
export function isScalarResource(name: string): boolean {
  return name.startsWith('hugepages-') || name.includes('/');
}

function containerRequests(c: Container): Resource {
  // API defaulting copies limits into missing requests; do the same for objects that skipped it.
  const requests = c.resources?.requests ?? {};
  const limits = c.resources?.limits ?? {};
  const merged: ResourceList = { ...limits, ...requests };
  return Resource.fromList(merged);
}

export interface PodResources {
  /** The effective request checked against allocatable. */
  requests: Resource;
  /** Requests with 100m/200Mi defaults for containers requesting nothing, for scoring. */
  nonZero: Resource;
}

function nonZeroOf(r: Resource): Resource {
  const n = r.clone();
  if (n.milliCPU === 0) n.milliCPU = DEFAULT_MILLI_CPU_REQUEST;
  if (n.memory === 0) n.memory = DEFAULT_MEMORY_REQUEST;
  return n;
}

function effective(pod: SchedulerPod, per: (c: Container) => Resource): Resource {
  const sum = new Resource();
  for (const c of pod.spec.containers ?? []) sum.add(per(c));
  const sidecars = new Resource();
  const initMax = new Resource();
  for (const c of pod.spec.initContainers ?? []) {
    const r = per(c);
    if (c.restartPolicy === 'Always') {
      sidecars.add(r);
      initMax.setMax(sidecars);
    } else {
      const withSidecars = r.clone();
      withSidecars.add(sidecars);
      initMax.setMax(withSidecars);
    }
  }
  sum.add(sidecars);
  sum.setMax(initMax);
  if (pod.spec.overhead) sum.add(Resource.fromList(pod.spec.overhead));
  return sum;
}

/** Computes a pod's requests (as resource/helpers.go PodRequests). */
export function computePodResources(pod: SchedulerPod): PodResources {
  return {
    requests: effective(pod, containerRequests),
    nonZero: effective(pod, (c) => nonZeroOf(containerRequests(c))),
  };
}

/** Node allocatable (falling back to capacity). */
export function nodeAllocatable(node: SchedulerNode): Resource {
  return Resource.fromList(node.status?.allocatable ?? node.status?.capacity);
}
