// Where the pieces of the repository are, from this module (works from src/ and dist/).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'deploy', 'lab', 'lab.sh')) && existsSync(join(dir, 'packages'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('mkube: cannot find the repository root (deploy/lab/lab.sh)');
    dir = parent;
  }
}

/** The built binary of a component package, e.g. bin('apiserver', 'mkube-apiserver'). */
export function componentBin(pkg: string, bin: string): string {
  const p = join(repoRoot(), 'packages', pkg, 'dist', 'src', 'bin', `${bin}.js`);
  if (!existsSync(p)) throw new Error(`mkube: ${p} is missing: build the project first (npx tsc -b)`);
  return p;
}

export const LAB_SCRIPT = (): string => join(repoRoot(), 'deploy', 'lab', 'lab.sh');
