import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The repository's proto/ directory, found by walking up from this module (works from src/ and dist/). */
export function protoRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'mkube'))) return (cached = candidate);
    const parent = dirname(dir);
    if (parent === dir) throw new Error('mkube: cannot find the proto/ directory above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
