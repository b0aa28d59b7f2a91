// The progress display of `mkube up`: each step printed as it starts and finishes with how long it
// took, what a step is waiting for while it waits, and which step failed with its reason and log file.
// On a terminal the current step's line is rewritten in place; otherwise (CI logs) every line is
// plain text, printed once, and a wait is printed only when what is awaited changes.

export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** A step that failed: its title, the reason and the log file to read. */
export class StepFailed extends Error {
  readonly code = 'STEP_FAILED';
  constructor(
    readonly step: string,
    readonly reason: string,
    readonly logFile?: string,
  ) {
    super(`${step}: ${reason}${logFile ? ` (see ${logFile})` : ''}`);
    this.name = 'StepFailed';
  }
}

/** A step that failed before anything was started (nothing to stop). */
export class PreflightFailed extends StepFailed {}

/** An error that says which log file explains it (a component that exited). */
export class ComponentFailed extends Error {
  readonly fatal = true;
  constructor(
    message: string,
    readonly logFile: string,
  ) {
    super(message);
    this.name = 'ComponentFailed';
  }
}

export interface StepHandle {
  /** What the step waits for now (e.g. `node w1: Ready=False (KubeletNotReady)`). */
  waiting(what: string): void;
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export class Progress {
  private readonly tty: boolean;

  constructor(
    private readonly out: ProgressOutput,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tty = out.isTTY === true;
  }

  /**
   * Runs one step: prints `title…`, then `✓ done(result) (1.2 s)` or `✗ title failed (1.2 s): reason`
   * and the log file, and throws StepFailed.
   */
  async step<T>(title: string, run: (h: StepHandle) => Promise<T>, done: (result: T) => string): Promise<T> {
    const started = this.now();
    let lastWait = '';
    const elapsed = () => formatSeconds(this.now() - started);
    this.line(`… ${title}`, false);
    const handle: StepHandle = {
      waiting: (what) => {
        if (this.tty) this.line(`… ${title}: waiting for ${what} (${elapsed()})`, false);
        else if (what !== lastWait) this.out.write(`  waiting for ${what}\n`);
        lastWait = what;
      },
    };
    let result: T;
    try {
      result = await run(handle);
    } catch (err) {
      const reason = (err as Error).message ?? String(err);
      const logFile = (err as { logFile?: string }).logFile;
      this.line(`✗ ${title} failed (${elapsed()}): ${reason}`, true);
      if (logFile) this.out.write(`  see ${logFile}\n`);
      throw new StepFailed(title, reason, logFile);
    }
    this.line(`✓ ${done(result)} (${elapsed()})`, true);
    return result;
  }

  /** A line on its own (e.g. a note between steps). */
  note(text: string): void {
    this.line(text, true);
  }

  private line(text: string, final: boolean): void {
    if (!this.tty) {
      // In a log each line is printed once: the start line, then the final one.
      this.out.write(`${text}\n`);
      return;
    }
    const width = Math.max(20, (this.out.columns ?? 100) - 1);
    const shown = !final && text.length > width ? `${text.slice(0, width - 1)}…` : text;
    this.out.write(`\r\x1b[K${shown}${final ? '\n' : ''}`);
  }
}
