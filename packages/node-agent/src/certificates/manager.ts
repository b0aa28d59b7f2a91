/**
 * CertificateManager: keeps one certificate of the node agent current, as
 * kubelet's certificate manager — schedules a renewal at the jittered
 * rotation deadline (rotation.ts) of the current certificate, asks for a new
 * pair (a fresh key through the CSR API), stores it (store.ts), hands it to
 * whoever uses it (the API client, the serving TLS context) and schedules the
 * next one; a failed attempt is retried with back-off while the current
 * certificate stays in use. `rotateNow()` renews at once (the agent's SIGHUP).
 */
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { KeyPair } from './csr_request.js';
import { retryDelayMs, rotationDeadline } from './rotation.js';
import { storePair, type CertificateKind } from './store.js';

/** setTimeout's longest delay; later deadlines are reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CertificateManagerOptions {
  kind: CertificateKind;
  /** The pki dir the pair is stored in. */
  dir: string;
  /** A new pair from the CSR API. */
  request: () => Promise<KeyPair>;
  /** The new pair is in use from here on (stored already). */
  onRotated: (pair: KeyPair) => void | Promise<void>;
  log: Logger;
  random?: () => number;
  now?: () => number;
}

export class CertificateManager {
  private current: KeyPair | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;
  /** When the current certificate is renewed (ms since the epoch). */
  deadline = 0;
  /** Renewals that went through. */
  rotations = 0;

  constructor(private readonly o: CertificateManagerOptions) {}

  /** Starts managing `pair` (the certificate in use now). */
  start(pair: KeyPair): void {
    this.current = pair;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  get pair(): KeyPair | undefined {
    return this.current;
  }

  /** Renews now (joins a renewal under way); resolves when the new pair is in use, rejects when this attempt failed. */
  rotateNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return this.rotate();
  }

  private schedule(delayMs?: number): void {
    if (this.stopped || !this.current) return;
    const now = (this.o.now ?? Date.now)();
    if (delayMs === undefined) {
      const cert = new X509Certificate(this.current.certPem);
      this.deadline = rotationDeadline(Date.parse(cert.validFrom), Date.parse(cert.validTo), this.o.random);
      this.o.log.info({ kind: this.o.kind, notAfter: cert.validTo, rotationDeadline: new Date(this.deadline).toISOString() }, 'certificate rotation scheduled');
      delayMs = Math.max(0, this.deadline - now);
    }
    const step = Math.min(delayMs, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (step < delayMs!) this.schedule(delayMs! - step);
      else void this.rotate().catch(() => undefined);
    }, step);
    this.timer.unref();
  }

  private rotate(): Promise<void> {
    this.inflight ??= (async () => {
      try {
        const pair = await this.o.request();
        storePair(this.o.dir, this.o.kind, pair);
        this.current = pair;
        await this.o.onRotated(pair);
        this.failures = 0;
        this.rotations++;
        this.o.log.info({ kind: this.o.kind }, 'certificate rotated');
        this.schedule();
      } catch (err) {
        const delay = retryDelayMs(this.failures++);
        this.o.log.error({ err, kind: this.o.kind, retryInMs: delay }, 'certificate rotation failed; the current certificate stays in use');
        this.schedule(delay);
        throw err;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }
}
