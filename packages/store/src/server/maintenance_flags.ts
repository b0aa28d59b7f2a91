// Parsing of the maintenance flags as etcd's embed config: --auto-compaction-mode
// and --auto-compaction-retention (etcd's parseCompactionRetention: a plain
// non-negative integer is hours in periodic mode and a revision count in
// revision mode, anything else a Go duration) and duration flags.
import { parseGoDuration } from '@mkube/component-base';
import type { AutoCompactionMode } from './compactor.js';

class FlagError extends Error {
  readonly code = 'CONFIG_INVALID';
}

export function parseAutoCompaction(mode: string, retention: string): { mode: AutoCompactionMode; retention: number } {
  if (mode !== 'periodic' && mode !== 'revision') {
    throw new FlagError(`unknown auto-compaction-mode ${JSON.stringify(mode)}: expected "periodic" or "revision"`);
  }
  if (/^\d+$/.test(retention)) {
    const n = Number(retention);
    return { mode, retention: mode === 'periodic' ? n * 3_600_000 : n };
  }
  let ms: number;
  try {
    ms = parseGoDuration(retention);
  } catch (err) {
    throw new FlagError(`error parsing CompactionRetention: ${(err as Error).message}`);
  }
  if (mode === 'revision') throw new FlagError(`--auto-compaction-retention ${JSON.stringify(retention)}: revision mode takes a number of revisions`);
  if (ms < 0) throw new FlagError(`--auto-compaction-retention ${JSON.stringify(retention)} is negative`);
  return { mode, retention: ms };
}

/** A Go duration flag in milliseconds (>= 0; > 0 when `positive`). */
export function parseDurationFlag(flag: string, value: string, positive: boolean): number {
  let ms: number;
  try {
    ms = parseGoDuration(value);
  } catch (err) {
    throw new FlagError(`--${flag}: ${(err as Error).message}`);
  }
  if (ms < 0 || (positive && ms === 0)) throw new FlagError(`--${flag}: expected a ${positive ? 'positive' : 'non-negative'} duration, got ${JSON.stringify(value)}`);
  return ms;
}
