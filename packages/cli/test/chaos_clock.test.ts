// mkube chaos --hosts-file's fault times: every host's clock offset is measured at the start with round trips to a
// long-lived `mkube chaos-host clock` (no process start inside a sample), and a fault's time is the one the host
// printed where the fault happened, moved into the driver's clock by that offset. Checked against the real
// chaos-host on this machine (same clock: offset 0 within the reported uncertainty) and against a stand-in host
// whose clock is 5 s ahead and whose commands take 300 ms to start (the offset found within its uncertainty, the
// fault time inside the injecting command's window, not at its start).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { RemoteChaosCluster } from '../src/chaos/remote_cluster.js';
import type { HostsFileEntry } from '../src/chaos/hosts_file.js';

const MKUBE = join(process.cwd(), 'packages/cli/dist/src/bin/mkube.js');
const SKEW_MS = 5000;
const START_MS = 300;
const KUBECONFIG = { server: 'https://127.0.0.1:1' };

// A host whose wall clock runs SKEW_MS ahead: a command starts after START_MS; `clock` answers every line, `signal` says when it signalled.
const FAKE_HOST = `
const now = () => performance.timeOrigin + performance.now() + ${SKEW_MS};
const op = process.argv[process.argv.length - 1];
setTimeout(() => {
  if (op === 'clock') {
    const say = () => process.stdout.write(JSON.stringify({ t: now() }) + '\\n');
    say();
    require('node:readline').createInterface({ input: process.stdin }).on('line', say);
  } else {
    // 'signal KINDS SIG': the fault happens 100 ms into the command's work, which then takes another 200 ms.
    setTimeout(() => { const at = now(); setTimeout(() => process.stdout.write(JSON.stringify({ signalled: 1, at }) + '\\n'), 200); }, 100);
  }
}, ${START_MS});
`;

let work = '';
test.before(() => {
  work = mkdtempSync(join(tmpdir(), 'mkube-chaos-clock-'));
  writeFileSync(join(work, 'fake-host.cjs'), FAKE_HOST);
});
test.after.always(() => rmSync(work, { recursive: true, force: true }));

function entry(name: string, command: string[]): HostsFileEntry {
  return { name, role: 'control-plane', address: '10.0.0.1', dataDir: work, command };
}

test('the real chaos-host clock on this machine: offset 0 within the reported uncertainty, a few ms of it', async (t) => {
  const c = new RemoteChaosCluster([entry('here', ['env'])], KUBECONFIG, [process.execPath, MKUBE]);
  // No cleanup(): it would run chaos-host rejoin in this machine's own network namespace.
  {
    const [o] = await c.measureClocks();
    t.log(`offset ${o!.offsetMs.toFixed(3)} ms ± ${o!.uncertaintyMs.toFixed(3)} ms, round trips ${o!.rttMs.join(', ')} ms`);
    t.is(o!.rttMs.length, 10);
    t.true(Math.abs(o!.offsetMs) <= o!.uncertaintyMs, `|${o!.offsetMs}| <= ${o!.uncertaintyMs}`);
    t.true(o!.uncertaintyMs < 50, `uncertainty ${o!.uncertaintyMs} ms`);
  }
});

test('a host 5 s ahead with slow command starts: the offset found within its uncertainty; the fault time is where the host took it, inside the command', async (t) => {
  const c = new RemoteChaosCluster([entry('ahead', [process.execPath, join(work, 'fake-host.cjs')])], KUBECONFIG, ['mkube']);
  try {
    const [o] = await c.measureClocks();
    t.log(`offset ${o!.offsetMs.toFixed(3)} ms ± ${o!.uncertaintyMs.toFixed(3)} ms`);
    t.true(Math.abs(o!.offsetMs - SKEW_MS) <= o!.uncertaintyMs, `|${o!.offsetMs} - ${SKEW_MS}| <= ${o!.uncertaintyMs}`);
    const r = await c.signal('ahead', ['store'], 'SIGKILL');
    const f = r.at!;
    t.is(r.signalled, 1);
    const intoCommand = f.at - f.command.start;
    t.log(`fault ${intoCommand.toFixed(1)} ms into a ${(f.command.end - f.command.start).toFixed(1)} ms command, ± ${f.uncertaintyMs.toFixed(3)} ms`);
    // Not the command's start (the old fault time): after the host's start-up and 100 ms of work, before its end.
    t.true(intoCommand >= START_MS + 100 - f.uncertaintyMs, `${intoCommand} ms into the command`);
    t.true(f.at <= f.command.end - 200 + f.uncertaintyMs, 'the fault precedes the 200 ms the command took after it');
    t.is(f.hostWallMs! - (f.at + performance.timeOrigin), o!.offsetMs);
  } finally {
    await c.cleanup().catch(() => undefined);
  }
});
