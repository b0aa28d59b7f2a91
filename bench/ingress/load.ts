// HTTP load generator of the Ingress benchmark (run in its own process by run.ts): CONNECTIONS
// keep-alive loops, each on its own connection to one of the targets (spread evenly), each sending
// GET PATH with a Host header and the next request as its answer arrives; WARMUP seconds unmeasured,
// then SECONDS measured. Prints one JSON line: requests/s, p50, p99, max (ms), non-200s and errors.
//
//   node --import tsx bench/ingress/load.ts TARGETS HOST PATH CONNECTIONS SECONDS WARMUP
//   (TARGETS: ip:port[,ip:port...])
import { Agent, request } from 'node:http';

const [targetsArg, host, path, connArg, secArg, warmArg] = process.argv.slice(2);
const targets = (targetsArg ?? '').split(',').filter(Boolean).map((t) => {
  const i = t.lastIndexOf(':');
  return { ip: t.slice(0, i), port: Number(t.slice(i + 1)) };
});
const connections = Number(connArg ?? 32);
const seconds = Number(secArg ?? 10);
const warmup = Number(warmArg ?? 2);

const latencies: number[] = [];
let non200 = 0;
let errors = 0;
let measuring = false;
let stop = false;

function once(agent: Agent, ip: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host: ip, port, path, headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (measuring) {
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          if (res.statusCode !== 200) non200++;
        }
        resolve();
      });
    });
    req.on('error', () => {
      if (measuring) errors++;
      resolve();
    });
    req.end();
  });
}

async function loop(i: number): Promise<void> {
  const t = targets[i % targets.length]!;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while (!stop) await once(agent, t.ip, t.port);
  agent.destroy();
}

const loops = Array.from({ length: connections }, (_, i) => loop(i));
await new Promise((r) => setTimeout(r, warmup * 1000));
measuring = true;
const start = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
stop = true;
await Promise.all(loops);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0;
process.stdout.write(`${JSON.stringify({ rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), max: latencies.at(-1) ?? 0, requests: latencies.length, non200, errors })}\n`);
