/**
 * The chaos suite's traffic probe: HTTP GETs from outside the cluster to a Service (a node port)
 * at a steady rate, each outcome kept with its time, so that the report can say which fraction
 * of requests was served during each fault (running pods keep serving while the control plane
 * is down).
 */
import { request } from 'node:http';

export interface ProbeSample {
  at: number;
  ok: boolean;
}

export class HttpProbe {
  readonly samples: ProbeSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;

  constructor(
    private readonly urls: string[],
    private readonly o: { intervalMs: number; timeoutMs: number; now: () => number },
  ) {
    if (urls.length === 0) throw new Error('HttpProbe: no URL to probe');
  }

  start(): void {
    let i = 0;
    this.timer = setInterval(() => {
      if (this.inFlight > 20) return; // a dead target must not pile up sockets
      const url = this.urls[i++ % this.urls.length]!;
      const at = this.o.now();
      this.inFlight++;
      void this.get(url).then((ok) => {
        this.inFlight--;
        this.samples.push({ at, ok });
      });
    }, this.o.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Served/total of the requests sent in [from, to). */
  served(from: number, to: number): { ok: number; total: number } {
    let ok = 0;
    let total = 0;
    for (const s of this.samples) {
      if (s.at < from || s.at >= to) continue;
      total++;
      if (s.ok) ok++;
    }
    return { ok, total };
  }

  private get(url: string): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request(url, { timeout: this.o.timeoutMs, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(false));
      req.end();
    });
  }
}
