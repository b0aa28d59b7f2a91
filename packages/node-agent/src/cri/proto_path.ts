import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RELATIVE = join('proto', 'cri', 'api.proto');

/**
 * Absolute path of proto/cri/api.proto at the repository root, found by
 * walking up from this module (works from src/ under tsx and from dist/).
 */
export function criProtoPath(start = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, RELATIVE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`CRI proto ${RELATIVE} not found above ${start}`);
}
