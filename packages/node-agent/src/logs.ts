// Container logs for `kubectl logs`: reads the CRI-format files the runtime
// writes (<podLogDir>/<container>/<restartCount>.log) with follow, tailLines,
// sinceSeconds, timestamps, limitBytes and previous (the instance before).
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from './clock.js';
import { parseCriLogRecord, type CriLogStream } from './cri/cri_log.js';

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  /** RFC 3339 time; only lines at or after it. */
  sinceTime?: string;
  timestamps?: boolean;
  previous?: boolean;
  limitBytes?: number;
  /** Ends `follow` (e.g. the client went away). */
  signal?: AbortSignal;
  /** follow ends once this says the container stopped (and the file is drained). */
  isRunning?: () => Promise<boolean>;
  pollIntervalMs?: number;
  clock?: Clock;
}

export class LogNotFoundError extends Error {
  readonly code = 'NotFound';
}

/** The log files of a container, newest instance first. */
export async function containerLogFiles(podLogDir: string, container: string): Promise<string[]> {
  const dir = join(podLogDir, container);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d+)\.log$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]))
    .map((m) => join(dir, m[0]));
}

interface Line {
  time: string;
  text: string;
}

/** Splits records into logical lines (partial records joined per stream). */
class LineAssembler {
  private readonly pending = new Map<CriLogStream, Line>();
  private rest = '';

  push(chunk: string): Line[] {
    const out: Line[] = [];
    const text = this.rest + chunk;
    const parts = text.split('\n');
    this.rest = parts.pop() ?? '';
    for (const raw of parts) {
      const rec = parseCriLogRecord(raw);
      if (!rec) continue;
      const open = this.pending.get(rec.stream);
      const line = open ? { time: open.time, text: open.text + rec.content } : { time: rec.time, text: rec.content };
      if (rec.full) {
        this.pending.delete(rec.stream);
        out.push(line);
      } else this.pending.set(rec.stream, line);
    }
    return out;
  }
}

function format(l: Line, timestamps: boolean): string {
  return timestamps ? `${l.time} ${l.text}\n` : `${l.text}\n`;
}

/**
 * Yields the container's log output as text chunks (one per line), the way
 * kubelet serves it. Throws LogNotFoundError when there is no such log.
 */
export async function* readContainerLogs(podLogDir: string, container: string, opts: LogOptions = {}): AsyncGenerator<string> {
  const clock = opts.clock ?? systemClock;
  const files = await containerLogFiles(podLogDir, container);
  const file = opts.previous ? files[1] : files[0];
  if (!file) {
    throw new LogNotFoundError(
      opts.previous
        ? `previous terminated container "${container}" not found`
        : `container "${container}" has no logs yet`,
    );
  }
  const sinceMs = opts.sinceTime
    ? Date.parse(opts.sinceTime)
    : opts.sinceSeconds !== undefined
      ? clock.now() - opts.sinceSeconds * 1000
      : undefined;
  const keep = (l: Line): boolean => sinceMs === undefined || Date.parse(l.time) >= sinceMs;
  let budget = opts.limitBytes ?? Infinity;
  const emit = function* (lines: Line[]): Generator<string> {
    for (const l of lines) {
      if (budget <= 0) return;
      let s = format(l, opts.timestamps ?? false);
      if (Buffer.byteLength(s) > budget) s = Buffer.from(s).subarray(0, budget).toString('utf8');
      budget -= Buffer.byteLength(s);
      yield s;
    }
  };

  const fh = await open(file, 'r');
  try {
    const assembler = new LineAssembler();
    let pos = 0;
    const readMore = async (): Promise<Line[]> => {
      const size = (await fh.stat()).size;
      if (size <= pos) return [];
      const buf = Buffer.alloc(size - pos);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      pos += bytesRead;
      return assembler.push(buf.subarray(0, bytesRead).toString('utf8'));
    };
    let initial = (await readMore()).filter(keep);
    if (opts.tailLines !== undefined) initial = opts.tailLines <= 0 ? [] : initial.slice(-opts.tailLines);
    yield* emit(initial);
    if (!opts.follow || opts.previous) return;
    const interval = opts.pollIntervalMs ?? 200;
    for (;;) {
      if (budget <= 0 || opts.signal?.aborted) return;
      const more = (await readMore()).filter(keep);
      yield* emit(more);
      if (more.length === 0) {
        // A newer instance or a stopped container ends the stream once drained.
        const newest = (await containerLogFiles(podLogDir, container))[0];
        if (newest !== file) return;
        if (opts.isRunning && !(await opts.isRunning())) {
          yield* emit((await readMore()).filter(keep));
          return;
        }
        await new Promise<void>((r) => {
          const t = clock.setTimeout(r, interval);
          opts.signal?.addEventListener('abort', () => {
            t.cancel();
            r();
          }, { once: true });
        });
      }
    }
  } finally {
    await fh.close();
  }
}

/** Whether a log file exists for the container (any instance). */
export async function hasLogs(podLogDir: string, container: string): Promise<boolean> {
  const files = await containerLogFiles(podLogDir, container);
  return files.length > 0 && (await stat(files[0]!).catch(() => undefined)) !== undefined;
}
