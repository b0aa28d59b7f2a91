// A sync that coalesces: requests while it runs collapse into one more run
// after it, so the latest state is always applied and never twice at once.
export class CoalescingSync {
  private running = false;
  private again = false;

  /** `sync` handles its own errors. */
  constructor(private readonly sync: () => Promise<void>) {}

  request(): Promise<void> {
    if (this.running) {
      this.again = true;
      return Promise.resolve();
    }
    return this.loop();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        await this.sync();
      } while (this.again);
    } finally {
      this.running = false;
    }
  }
}
