// The progress display of `mkube up`: plain lines without control characters when the output is not a
// terminal (CI logs), the line rewritten in place on a terminal, durations, waits printed once per
// change, and a failed step naming its reason and log file.
import test from 'ava';
import { ComponentFailed, Progress, StepFailed } from '../src/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { out: { isTTY, columns: 200, write: (s: string) => chunks.push(s) }, text: () => chunks.join('') };
}

/** A clock the test moves: each read advances it by `stepMs`. */
function clock(stepMs: number) {
  let t = 0;
  return () => (t += stepMs);
}

test('not a terminal: one plain line per start, per changed wait and per finish, with durations', async (t) => {
  const s = sink(false);
  const p = new Progress(s.out, clock(700));
  const v = await p.step('Waiting for node n1 to be Ready', async (h) => {
    h.waiting('node n1: not registered yet');
    h.waiting('node n1: not registered yet');
    h.waiting('node n1: Ready=False (KubeletNotReady: PLEG is not healthy)');
    return 42;
  }, (n) => `Node n1 is Ready (${n})`);
  t.is(v, 42);
  t.is(s.text(), '… Waiting for node n1 to be Ready\n  waiting for node n1: not registered yet\n  waiting for node n1: Ready=False (KubeletNotReady: PLEG is not healthy)\n✓ Node n1 is Ready (42) (0.7 s)\n');
  t.false(/[\r\x1b]/.test(s.text()));
});

test('a terminal: the step line is rewritten in place and ends with the result', async (t) => {
  const s = sink(true);
  const p = new Progress(s.out, clock(1000));
  await p.step('Starting the scheduler', async (h) => h.waiting('http://127.0.0.1:1/healthz (HTTP 500)'), () => 'Scheduler healthy');
  t.is(s.text(), '\r\x1b[K… Starting the scheduler\r\x1b[K… Starting the scheduler: waiting for http://127.0.0.1:1/healthz (HTTP 500) (1.0 s)\r\x1b[K✓ Scheduler healthy (2.0 s)\n');
});

test('a failed step names the step, the reason and the log file, and throws StepFailed', async (t) => {
  const s = sink(false);
  const p = new Progress(s.out, clock(500));
  const err = await t.throwsAsync(
    p.step('Starting the API server', async () => {
      throw new ComponentFailed('apiserver exited: mkube-apiserver: cannot listen on 127.0.0.1:6443 (secure port): address already in use', '/d/logs/apiserver.log');
    }, () => 'never'),
    { instanceOf: StepFailed },
  );
  t.is(err!.step, 'Starting the API server');
  t.is(err!.logFile, '/d/logs/apiserver.log');
  t.is(s.text(), '… Starting the API server\n✗ Starting the API server failed (0.5 s): apiserver exited: mkube-apiserver: cannot listen on 127.0.0.1:6443 (secure port): address already in use\n  see /d/logs/apiserver.log\n');
});
