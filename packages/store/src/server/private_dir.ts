// Directories and files that hold cluster data or secrets (a store's data
// dir, the API server's data and PKI dirs, kubeconfigs with keys): created
// 0700/0600, and tightened when they already exist with looser modes. This
// mirrors etcd, which creates its data dir with fileutil.PrivateDirMode and
// warns ("directory ... exist, but the permission is ...") when it finds
// another mode; here the warning is followed by a chmod to 0700.
import { chmodSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** etcd's fileutil.PrivateDirMode and PrivateFileMode. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

interface WarnLogger {
  warn(obj: object, msg: string): void;
}

/** Go's os.FileMode.String() for a directory or a plain file mode, as etcd prints it. */
function goModeString(mode: number, dir: boolean): string {
  const rwx = 'rwxrwxrwx';
  let s = dir ? 'd' : '-';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? rwx[i] : '-';
  return s;
}

/**
 * Creates `dir` (and missing parents) with mode 0700; if it exists with
 * another mode, logs etcd's warning and makes it 0700. Throws (code
 * ENOTDIR) if `dir` is not a directory.
 */
export function ensurePrivateDir(dir: string, log?: WarnLogger): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = lstatSync(dir, { throwIfNoEntry: true });
  if (st.isSymbolicLink()) {
    // A data dir may be a link chosen by the operator; its target is what must be private.
    chmodSync(dir, PRIVATE_DIR_MODE);
    return;
  }
  if (!st.isDirectory()) throw Object.assign(new Error(`${dir} exists and is not a directory`), { code: 'ENOTDIR' });
  const perm = st.mode & 0o777;
  if (perm === PRIVATE_DIR_MODE) return;
  log?.warn(
    { dir, mode: `0${perm.toString(8)}` },
    `directory ${JSON.stringify(dir)} exist, but the permission is ${JSON.stringify(goModeString(perm, true))}. The recommended permission is ${JSON.stringify(goModeString(PRIVATE_DIR_MODE, false))} to prevent possible unprivileged access to the data; setting it`,
  );
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Takes group and other permissions away from everything under `dir`
 * (directories 0700, files 0600 at most), without following links. For data
 * written by libraries that create files with the process umask (LevelDB).
 */
export function restrictTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) {
      chmodSync(p, PRIVATE_DIR_MODE);
      restrictTree(p);
    } else if (e.isFile()) {
      const perm = lstatSync(p).mode & 0o777;
      if (perm & 0o077) chmodSync(p, perm & PRIVATE_FILE_MODE);
    }
  }
}

/** Writes a file that holds a secret (a key, a kubeconfig): 0600 also when it existed with another mode. */
export function writePrivateFile(path: string, data: string | Buffer): void {
  writeFileSync(path, data, { mode: PRIVATE_FILE_MODE });
  chmodSync(path, PRIVATE_FILE_MODE);
}

/** Makes every `*.key` file directly in `dir` 0600 (keys written by openssl get the umask's mode). */
export function restrictKeyFiles(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isFile() && e.name.endsWith('.key')) chmodSync(join(dir, e.name), PRIVATE_FILE_MODE);
}
