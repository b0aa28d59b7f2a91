// Frames over a MessagePort, batched: every frame sent during one synchronous
// run of code goes in one postMessage (one structured clone, one wake-up of the
// other thread) at the end of it, with the message bytes transferred, not copied.
import type { MessagePort } from 'node:worker_threads';
import { ownedBytes, type ClientFrame, type ServerFrame } from '../transport/call_frames.js';

export class FramePort<Out extends ClientFrame | ServerFrame, In extends ClientFrame | ServerFrame> {
  private outbox: Out[] = [];
  private transfer: ArrayBuffer[] = [];
  private closed = false;

  constructor(
    private readonly port: MessagePort,
    onFrame: (f: In) => void,
  ) {
    port.on('message', (batch: In[]) => {
      for (const f of batch) onFrame(f);
    });
  }

  send(f: Out): void {
    if (this.closed) return;
    if ('bytes' in f) {
      f.bytes = ownedBytes(f.bytes);
      this.transfer.push(f.bytes.buffer as ArrayBuffer);
    }
    if (this.outbox.push(f) === 1) queueMicrotask(() => this.flush());
  }

  /** Sends what is queued, then closes the port. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.port.close();
  }

  private flush(): void {
    if (this.outbox.length === 0 || this.closed) return;
    const batch = this.outbox;
    const transfer = this.transfer;
    this.outbox = [];
    this.transfer = [];
    this.port.postMessage(batch, transfer);
  }
}
