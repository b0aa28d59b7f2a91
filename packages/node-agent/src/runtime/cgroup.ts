// Removal of a pod's cgroup: containerd leaves the pod<uid> parent behind, so
// the agent rmdirs it (depth-first) under every cgroup v1 hierarchy.
import { readdir, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

async function removeTree(dir: string): Promise<string[]> {
  const failed: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return failed; // already gone
    return [dir]; // unreadable: reported as not removed, the caller retries
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
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return failed; // no cgroup filesystem here
    throw err;
  }
  for (const h of hierarchies) {
    const dir = join(fsRoot, h, path);
    const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw err;
    });
    if (st?.isDirectory()) failed.push(...(await removeTree(dir)));
  }
  return failed;
}
