import { MAX_NODE_SCORE, type ScorePlugin } from '../framework/interface.js';
import type { NodeInfo, PodInfo } from '../node_info.js';

const MB = 1024 * 1024;
const MIN_THRESHOLD = 23 * MB;
const MAX_CONTAINER_THRESHOLD = 1000 * MB;

function normalizedImageName(name: string): string {
  const lastSlash = name.lastIndexOf('/');
  if (name.lastIndexOf(':') <= lastSlash && !name.includes('@')) return `${name}:latest`;
  return name;
}

/**
 * ImageLocality: prefers nodes that already have the pod's images (by size, from
 * node.status.images). Simplified: no spread factor across nodes.
 */
export class ImageLocality implements ScorePlugin {
  readonly name = 'ImageLocality';

  scoreExtensions(): null { return null; }

  score(_s: unknown, pod: PodInfo, node: NodeInfo): number {
    const images = node.node?.status?.images ?? [];
    if (images.length === 0) return 0;
    const sizes = new Map<string, number>();
    for (const img of images) for (const n of img.names ?? []) sizes.set(normalizedImageName(n), img.sizeBytes ?? 0);
    let sum = 0;
    const containers = [...(pod.pod.spec.initContainers ?? []), ...pod.pod.spec.containers];
    for (const c of containers) if (c.image) sum += sizes.get(normalizedImageName(c.image)) ?? 0;
    const max = MAX_CONTAINER_THRESHOLD * Math.max(1, containers.length);
    if (sum < MIN_THRESHOLD) return 0;
    if (sum > max) return MAX_NODE_SCORE;
    return Math.trunc((MAX_NODE_SCORE * (sum - MIN_THRESHOLD)) / (max - MIN_THRESHOLD));
  }
}
