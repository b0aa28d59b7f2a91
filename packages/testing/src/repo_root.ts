// Where the mkube checkout is, found from this module's own location (it runs
// from src/ through tsx or from dist/src/): the directory whose package.json
// declares the npm workspaces. Fixtures spawn built binaries and scripts from here.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { workspaces?: unknown }).workspaces) return dir;
    if (dirname(dir) === dir) throw new Error(`no npm workspace root above ${from}`);
  }
}

export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
