// Symlink-safe resolution of a relative path (a volumeMount's subPath) inside
// a volume's root directory on the host. A container can plant symbolic links
// in a writable volume (emptyDir `link -> /etc`); a later container's subPath
// must never reach the host through one. Each component is inspected with
// lstat; a symbolic link is followed only if its fully resolved target stays
// inside the real path of the volume root (as kubelet's subpath code allows
// links that stay in the volume), and missing directories are created one
// component at a time with mkdir, which never follows a link.
import { chmod, lstat, mkdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';

/** Why a path could not be resolved inside its root; `code` names the reason. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
  constructor(
    readonly code: 'AbsolutePath' | 'Backstep' | 'Escapes' | 'NotDirectory' | 'NotFound',
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** True if `p` is `root` or lies below it (both absolute and free of symlinks). */
export function isWithin(root: string, p: string): boolean {
  if (p === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return p.startsWith(prefix);
}

/**
 * Refuses what the API refuses for a subPath (validateLocalDescendingPath):
 * an absolute path or one with a `..` element. Returns the path's elements
 * without empty and `.` ones.
 */
export function relativeElements(path: string): string[] {
  if (path.startsWith('/')) throw new UnsafePathError('AbsolutePath', path, `${JSON.stringify(path)} must be a relative path`);
  const parts = path.split('/');
  if (parts.includes('..')) throw new UnsafePathError('Backstep', path, `${JSON.stringify(path)} must not contain '..'`);
  return parts.filter((p) => p !== '' && p !== '.');
}

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

export interface ResolveOptions {
  /** Create missing directories (with `mode`, as kubelet's SafeMakeDir). Default false. */
  create?: boolean;
  /** Mode of created directories; default the mode of the root. */
  mode?: number;
}

/**
 * The real host path of `subPath` inside `root`; throws UnsafePathError if the
 * path is absolute, has a `..` element, or reaches (through a symbolic link at
 * any component, absolute or relative) a place outside the root.
 */
export async function resolveInside(root: string, subPath: string, opts: ResolveOptions = {}): Promise<string> {
  const parts = relativeElements(subPath);
  const realRoot = await realpath(root);
  const mode = opts.mode ?? ((await stat(realRoot)).mode & 0o7777);
  let cur = realRoot;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    const next = join(cur, parts[i]!);
    let st = await lstat(next).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    if (!st) {
      if (!opts.create) throw new UnsafePathError('NotFound', subPath, `${JSON.stringify(subPath)} does not exist in the volume`);
      // mkdir fails with EEXIST rather than follow a link planted meanwhile; the lstat below judges what is there.
      await mkdir(next, { mode }).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      });
      st = await lstat(next);
      if (st.isDirectory() && !st.isSymbolicLink()) await chmod(next, mode);
    }
    if (st.isSymbolicLink()) {
      const target = await realpath(next).catch((err: unknown) => {
        if (isMissing(err)) throw new UnsafePathError('Escapes', subPath, `${JSON.stringify(subPath)} contains a dangling symbolic link at ${JSON.stringify(parts.slice(0, i + 1).join('/'))}`);
        throw err;
      });
      if (!isWithin(realRoot, target)) {
        throw new UnsafePathError('Escapes', subPath, `${JSON.stringify(subPath)} leaves the volume through the symbolic link ${JSON.stringify(parts.slice(0, i + 1).join('/'))}`);
      }
      cur = target;
      st = await stat(cur);
    } else {
      cur = next;
    }
    if (!last && !st.isDirectory()) {
      throw new UnsafePathError('NotDirectory', subPath, `${JSON.stringify(parts.slice(0, i + 1).join('/'))} in ${JSON.stringify(subPath)} is not a directory`);
    }
  }
  // A last look at the whole path: a component swapped for a link while we walked is caught here.
  const final = await realpath(cur);
  if (!isWithin(realRoot, final)) throw new UnsafePathError('Escapes', subPath, `${JSON.stringify(subPath)} resolves outside the volume`);
  return final;
}
