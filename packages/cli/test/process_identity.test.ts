// A recorded component is only signalled while its pid is still that component: pids are reused
// (pid_max 32768 wraps within minutes on a busy machine), and `mkube down` once killed another
// test's `mkube join` through a stale pid in a cluster.json.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { isRunning, sameCommand } from '../src/processes.js';

test('sameCommand: equal command lines, and a command started through nsenter (which execs it)', (t) => {
  t.true(sameCommand(['/usr/bin/node', 'a.js', '--x', '1'], ['/usr/bin/node', 'a.js', '--x', '1']));
  t.true(sameCommand(['/usr/bin/node', 'a.js'], ['nsenter', '--net=/run/netns/mk-w1', '/usr/bin/node', 'a.js']));
  t.true(sameCommand(['nsenter', '--net=/run/netns/mk-w1', '/usr/bin/node', 'a.js'], ['nsenter', '--net=/run/netns/mk-w1', '/usr/bin/node', 'a.js']));
  t.false(sameCommand(['/usr/bin/node', 'b.js'], ['/usr/bin/node', 'a.js']));
  t.false(sameCommand(['/usr/bin/node', 'a.js', 'extra'], ['/usr/bin/node', 'a.js']));
  t.false(sameCommand([], ['/usr/bin/node']));
});

test('isRunning: the live process with the recorded command line, not a live pid with another one, not a dead pid', async (t) => {
  const command = [process.execPath, '-e', 'setTimeout(() => {}, 60000)', 'mkube-identity-probe'];
  const child = spawn(command[0]!, command.slice(1), { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((r) => child.once('spawn', r));
  t.true(isRunning({ pid: child.pid!, command }));
  t.false(isRunning({ pid: child.pid!, command: [process.execPath, 'some-other-component.js'] }), 'a reused pid is not the recorded component');
  t.false(isRunning({ pid: process.pid, command }), 'this test process is alive but is not the component');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  t.false(isRunning({ pid: child.pid!, command }));
});

test('isRunning: a component just spawned through nsenter is running while it execs (its cmdline reads empty for a moment)', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('needs root for a network namespace');
  const ns = `mkidp${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => execFileSync('ip', ['netns', 'del', ns]));
  // 200 starts, each checked right after spawn as `mkube up` does: never taken for exited.
  for (let i = 0; i < 200; i++) {
    const command = ['nsenter', `--net=/run/netns/${ns}`, process.execPath, '-e', 'setTimeout(() => {}, 2000)', 'mkube-identity-probe'];
    const child = spawn(command[0]!, command.slice(1), { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    for (let k = 0; k < 20; k++) t.true(isRunning({ pid: child.pid!, command }), `start ${i}, check ${k}`);
    child.kill('SIGKILL');
    await exited;
  }
});
