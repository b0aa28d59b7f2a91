// Once a second, the event loop's utilization and delay of this process, on stderr.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export function reportLoopStats(label: string): void {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  let last = performance.eventLoopUtilization();
  setInterval(() => {
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, last);
    last = now;
    process.stderr.write(`${label} loop: utilization ${(elu.utilization * 100).toFixed(0)}%, delay p50 ${(h.percentile(50) / 1e6).toFixed(1)} ms p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms max ${(h.max / 1e6).toFixed(1)} ms\n`);
    h.reset();
  }, 1000).unref();
}
