// Removal of a pod's cgroup: containerd leaves the pod<uid> parent behind, so
// the agent rmdirs it (depth-first) under every cgroup v1 hierarchy.
import { readdir, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

async function removeTree(dir: string): Promise<string[]> {
  const failed: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return failed;
  }
  for (const e of entries) if (e.isDirectory()) failed.push(...(await removeTree(join(dir, e.name))));
  try {
    await rmdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(dir);
  }
  return failed;
}

/**
 * rmdir `path` (e.g. "/mk-w1/pod<uid>") under every hierarchy of fsRoot.
 * Returns the directories that could not be removed (still busy).
 */
export async function removeCgroup(path: string, fsRoot = '/sys/fs/cgroup'): Promise<string[]> {
  const failed: string[] = [];
  let hierarchies: string[] = [];
  try {
    hierarchies = await readdir(fsRoot);
  } catch {
    return failed;
  }
  for (const h of hierarchies) {
    const dir = join(fsRoot, h, path);
    const st = await stat(dir).catch(() => undefined);
    if (st?.isDirectory()) failed.push(...(await removeTree(dir)));
  }
  return failed;
}
