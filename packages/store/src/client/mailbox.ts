// One callback per event-loop turn, in order.

/**
 * Runs callbacks in order, asynchronously and one per event-loop turn, like
 * messages arriving from a socket: whoever awaits the first message (a watch's
 * `created`) can attach listeners before the next one (its cancellation) lands.
 */
export class Mailbox {
  private readonly queue: Array<() => void> = [];
  private head = 0;
  private scheduled = false;

  post(fn: () => void): void {
    this.queue.push(fn);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.head >= this.queue.length) return;
    this.scheduled = true;
    setImmediate(() => this.deliverOne());
  }

  private deliverOne(): void {
    this.scheduled = false;
    const fn = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.schedule();
    fn();
  }
}
