// The CRI container log format written by containerd: one record per line,
//   <RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>
// where P marks a partial line continued by the next record of the stream.

export type CriLogStream = 'stdout' | 'stderr';

export interface CriLogRecord {
  /** The timestamp exactly as written (RFC 3339 with nanoseconds). */
  time: string;
  stream: CriLogStream;
  /** False for a partial (P) record. */
  full: boolean;
  content: string;
}

export interface CriLogLine {
  time: string;
  stream: CriLogStream;
  content: string;
}

/** Parses one record; returns null for a line that is not in CRI format. */
export function parseCriLogRecord(line: string): CriLogRecord | null {
  const m = /^(\S+) (stdout|stderr) ([FP]) ?(.*)$/.exec(line);
  if (!m) return null;
  return { time: m[1]!, stream: m[2] as CriLogStream, full: m[3] === 'F', content: m[4]! };
}

/**
 * Parses a whole log file's text into logical lines, joining partial records
 * per stream. Lines that are not CRI records are skipped; a trailing partial
 * record without its final part is returned as a line of its own.
 */
export function parseCriLog(text: string): CriLogLine[] {
  const lines: CriLogLine[] = [];
  const pending = new Map<CriLogStream, CriLogLine>();
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const rec = parseCriLogRecord(raw);
    if (!rec) continue;
    const open = pending.get(rec.stream);
    const line = open
      ? { ...open, content: open.content + rec.content }
      : { time: rec.time, stream: rec.stream, content: rec.content };
    if (rec.full) {
      pending.delete(rec.stream);
      lines.push(line);
    } else {
      pending.set(rec.stream, line);
    }
  }
  for (const line of pending.values()) lines.push(line);
  return lines;
}
