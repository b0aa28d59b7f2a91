// Errors of the write-ahead log. DATA_CORRUPT: what is on disk cannot be the
// log this member wrote (a bad record before the tail, a gap, a broken chain);
// the member refuses to start. WAL_IO: a write, sync or segment operation failed.

export class DataCorruptError extends Error {
  readonly code = 'DATA_CORRUPT';
  constructor(what: string) {
    super(`data directory is corrupt: ${what}`);
  }
}

export class WalIoError extends Error {
  readonly code = 'WAL_IO';
  constructor(what: string, cause: Error) {
    super(`${what}: ${cause.message}`, { cause });
    // The errno code (ENOSPC, EIO) stays visible to whoever reports the failure.
    const errno = (cause as NodeJS.ErrnoException).code;
    if (errno) this.errno = errno;
  }
  errno: string | undefined;
}
