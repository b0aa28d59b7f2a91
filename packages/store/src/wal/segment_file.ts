// File operations of the WAL's segments, as small promise wrappers over
// node:fs's callback API (one libuv round trip each), and preallocation: a
// segment is created as a temp file of the full segment size with its blocks
// allocated and synced, so appending to it later does not grow the file and
// each batch's fdatasync has no size to flush. etcd preallocates with
// fallocate(2); Node has no binding for it, so util-linux's fallocate(1)
// does it (milliseconds for 64 MiB), and where that fails (no such tool, a
// file system without fallocate) the file is filled with zeros instead.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';

const ZERO_CHUNK = Buffer.alloc(1 << 20);

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `len` bytes of `buf` at `pos` (in libuv's pool: a slow disk never stalls the event loop). */
export function write(fd: number, buf: Buffer, len: number, pos: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fs.write(fd, buf, 0, len, pos, (err, n) => (err ? reject(err) : n !== len ? reject(new Error(`short write: ${n} of ${len} bytes at ${pos}`)) : resolve())),
  );
}

/** Writes zeros to bytes from..to of an open file (the file grows to `to` when shorter). */
export async function zeroFill(fd: number, from: number, to: number): Promise<void> {
  for (let pos = from; pos < to; pos += ZERO_CHUNK.length) await write(fd, ZERO_CHUNK, Math.min(ZERO_CHUNK.length, to - pos), pos);
}

function fallocate(path: string, bytes: number): Promise<boolean> {
  return new Promise((resolve) => execFile('fallocate', ['-l', String(bytes), path], { timeout: 10_000 }, (err) => resolve(!err)));
}

/** Creates `path` as a synced file of `bytes` bytes, all zeros, its blocks allocated (owner-only). */
export async function preallocate(path: string, bytes: number): Promise<void> {
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  try {
    if (!(await fallocate(path, bytes)) || fs.fstatSync(fd).size !== bytes) {
      fs.ftruncateSync(fd, 0);
      await zeroFill(fd, 0, bytes);
    }
    await fdatasync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
