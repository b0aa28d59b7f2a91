// Node status.images from the runtime's image list, as kubelet's Images
// setter: largest first, at most 50 images, each named by its repo digests
// then its repo tags (at most 5 names), with its size in bytes. The
// scheduler's ImageLocality plugin scores nodes by these.
import type { ContainerImage } from '@mkube/api';
import type { Image } from './cri/types.js';

export const NODE_STATUS_MAX_IMAGES = 50;
export const MAX_NAMES_PER_IMAGE = 5;


export function nodeImages(images: Image[]): ContainerImage[] {
  return images
    .map((i) => ({ names: [...(i.repo_digests ?? []), ...(i.repo_tags ?? [])].slice(0, MAX_NAMES_PER_IMAGE), sizeBytes: Number(i.size ?? 0) }))
    .sort((a, b) => b.sizeBytes - a.sizeBytes)
    .slice(0, NODE_STATUS_MAX_IMAGES);
}
