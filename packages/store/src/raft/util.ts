import type { Entry } from './types.js';

/** Bytes an entry counts for against maxSizePerMsg (payload plus a fixed header estimate). */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

/** Payload bytes counted against maxUncommittedEntriesSize (empty entries are free). */
export function payloadSize(ents: Entry[]): number {
  let s = 0;
  for (const e of ents) s += e.data.byteLength;
  return s;
}

/** ents[lo, hi) limited to maxBytes in total, but always at least one entry. */
export function limitSize(ents: Entry[], lo: number, hi: number, maxBytes: number): Entry[] {
  if (hi <= lo) return [];
  let size = entrySize(ents[lo]!);
  let end = lo + 1;
  while (end < hi) {
    size += entrySize(ents[end]!);
    if (size > maxBytes) break;
    end++;
  }
  return ents.slice(lo, end);
}

/** A stable string key for binary contexts (ReadIndex request ids). */
export function ctxKey(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}
