// Atomic update of the files of a configMap/secret volume, after the layout
// of kubelet's AtomicWriter: the files live in a fresh timestamped directory
// `..YYYY_MM_DD_HH_MM_SS.xxxxxx`, the symlink `..data` points to the current
// one and is swapped with one rename, and each top-level name is a symlink
// `name -> ..data/name`. A reader sees the old set or the new set, never a
// mix and never a half-written file. Files are created with O_EXCL|O_NOFOLLOW
// in a directory only this writer has touched, so nothing planted in the
// volume directory is followed.
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { relativeElements, UnsafePathError } from './safe_path.js';

export interface VolumeFile {
  /** Relative path inside the volume (no `..` element, not starting with `..`). */
  path: string;
  data: Buffer;
  /** Permission bits, 0..0o777. */
  mode: number;
}

const DATA = '..data';
const DATA_TMP = '..data_tmp';

/** Checks a payload path as kubelet's AtomicWriter does; returns its elements. */
export function payloadElements(path: string): string[] {
  if (path === '') throw new UnsafePathError('NotFound', path, 'invalid path: must not be empty');
  const parts = relativeElements(path);
  if (path.startsWith('..')) throw new UnsafePathError('Backstep', path, `${JSON.stringify(path)} must not start with '..'`);
  if (parts.length === 0) throw new UnsafePathError('NotFound', path, `invalid path ${JSON.stringify(path)}`);
  return parts;
}

function timestampPrefix(now: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.`;
}

const missing = (err: unknown): undefined => {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw err;
};

async function sameAsCurrent(dir: string, current: string, files: VolumeFile[], normalized: string[]): Promise<boolean> {
  let count = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else count++;
    }
  };
  const root = join(dir, current);
  await walk(root);
  if (count !== files.length) return false;
  for (let i = 0; i < files.length; i++) {
    const p = join(root, normalized[i]!);
    const st = await lstat(p).catch(missing);
    if (!st?.isFile() || (st.mode & 0o7777) !== files[i]!.mode) return false;
    if (!(await readFile(p)).equals(files[i]!.data)) return false;
  }
  return true;
}

/** Writes one file with exactly `mode`, refusing to follow or reuse anything already at `path`. */
async function createFile(path: string, data: Buffer, mode: number): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces whatever is at `path` (a file, a directory, a link) by a symlink to `target`, atomically where it can. */
async function replaceWithSymlink(dir: string, name: string, target: string): Promise<void> {
  const path = join(dir, name);
  const st = await lstat(path).catch(missing);
  if (st?.isSymbolicLink() && (await readlink(path)) === target) return;
  const tmp = join(dir, `..${name}_tmp`);
  await rm(tmp, { force: true, recursive: true });
  await symlink(target, tmp);
  if (st?.isDirectory()) await rm(path, { recursive: true, force: true });
  await rename(tmp, path);
}

/**
 * Makes `dir` hold exactly `files` (with their modes). Returns false when the
 * content was already current and nothing was written. `dir` must exist.
 */
export async function writeAtomically(dir: string, files: VolumeFile[], now = new Date()): Promise<boolean> {
  const normalized = files.map((f) => payloadElements(f.path).join('/'));
  const seen = new Set<string>();
  for (const p of normalized) {
    if (seen.has(p)) throw new UnsafePathError('NotFound', p, `duplicate path ${JSON.stringify(p)}`);
    seen.add(p);
  }
  const top = new Set(normalized.map((p) => p.split('/')[0]!));
  const dirStat = await lstat(dir);
  if (!dirStat.isDirectory()) throw new UnsafePathError('NotDirectory', dir, `volume directory ${dir} is not a directory`);

  const dataLink = await lstat(join(dir, DATA)).catch(missing);
  const current = dataLink?.isSymbolicLink() ? await readlink(join(dir, DATA)) : undefined;
  const currentOk = current !== undefined && basename(current) === current && current.startsWith('..') && (await lstat(join(dir, current)).catch(missing))?.isDirectory();
  let changed = true;
  if (currentOk && (await sameAsCurrent(dir, current, files, normalized))) {
    changed = false;
  } else {
    const tsDir = await mkdtemp(join(dir, timestampPrefix(now)));
    await chmod(tsDir, 0o755);
    for (let i = 0; i < files.length; i++) {
      const target = join(tsDir, normalized[i]!);
      if (dirname(target) !== tsDir) await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      await createFile(target, files[i]!.data, files[i]!.mode);
    }
    await rm(join(dir, DATA_TMP), { force: true, recursive: true });
    await symlink(basename(tsDir), join(dir, DATA_TMP));
    if (dataLink && !dataLink.isSymbolicLink()) await rm(join(dir, DATA), { recursive: true, force: true });
    await rename(join(dir, DATA_TMP), join(dir, DATA));
  }
  for (const name of top) await replaceWithSymlink(dir, name, `${DATA}/${name}`);
  // What the new payload no longer has: user-visible names, then old generations.
  const live = changed ? await readlink(join(dir, DATA)) : current!;
  for (const e of await readdir(dir)) {
    if (e === DATA || e === live) continue;
    if (e.startsWith('..') || !top.has(e)) await rm(join(dir, e), { recursive: true, force: true });
  }
  return changed;
}
