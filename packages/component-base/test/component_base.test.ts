// The component base: the metrics/health server over real HTTP on a free port, the flag parser
// (pflag's syntax and messages), the leader-election option set, Go durations, the log level
// mapping, the logger's `{ err }` records and the fake clock.
import test from 'ava';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import {
  ComponentServer, Counter, FakeClock, FlagError, HealthChecks, Registry, asyncCheck, createLogger, errorCode, formatGoDuration,
  logLevelFromFlags, parseComponentFlags, parseFlags, parseGoDuration, pingCheck, staticCheck,
} from '../src/index.js';

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    }).on('error', reject).end();
  });
}

test('server: /metrics from the registry, named health checks with ?verbose, ?exclude and /readyz/NAME, 404 otherwise', async (t) => {
  const registry = new Registry();
  const c = new Counter({ name: 'test_things_total', help: 'Things.', registers: [registry] });
  c.inc(3);
  let synced = false;
  const warnings: object[] = [];
  const server = new ComponentServer({
    registry,
    health: new HealthChecks({
      livez: [pingCheck],
      readyz: [pingCheck, staticCheck('informer-sync', () => (synced ? undefined : 'caches not synced'))],
      healthz: [pingCheck, asyncCheck('leader', () => Promise.reject(new Error('no lease')))],
    }),
    log: { warn: (obj) => warnings.push(obj) },
  });
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  t.true(port > 0);

  const metrics = await get(port, '/metrics');
  t.is(metrics.status, 200);
  t.regex(metrics.type, /^text\/plain; version=0\.0\.4/);
  t.regex(metrics.body, /^# TYPE test_things_total counter$/m);
  t.regex(metrics.body, /^test_things_total 3$/m);

  t.deepEqual(await get(port, '/livez'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok' });
  t.is((await get(port, '/livez?verbose')).body, '[+]ping ok\nlivez check passed\n');

  const notReady = await get(port, '/readyz');
  t.is(notReady.status, 500);
  t.is(notReady.body, '[+]ping ok\n[-]informer-sync failed: reason withheld\nreadyz check failed\n');
  t.deepEqual(warnings, [{ endpoint: '/readyz', failures: [{ name: 'informer-sync', reason: 'caches not synced' }] }]);
  t.is((await get(port, '/readyz?exclude=informer-sync')).status, 200);
  t.deepEqual(await get(port, '/readyz/informer-sync'), { status: 500, type: 'text/plain; charset=utf-8', body: 'internal server error: informer-sync check failed' });
  synced = true;
  t.is((await get(port, '/readyz')).status, 200);
  t.is((await get(port, '/readyz/informer-sync')).body, 'ok');
  t.is((await get(port, '/readyz/nosuch')).status, 404);

  const healthz = await get(port, '/healthz?verbose=1');
  t.is(healthz.status, 500);
  t.is(healthz.body, '[+]ping ok\n[-]leader failed: reason withheld\nhealthz check failed\n');
  t.like(warnings.at(-1), { failures: [{ name: 'leader', reason: 'no lease' }] });

  t.deepEqual(await get(port, '/nope'), { status: 404, type: 'text/plain; charset=utf-8', body: '404 page not found\n' });
});

test('server: a port already taken rejects listen() with EADDRINUSE; close() frees the port', async (t) => {
  const a = new ComponentServer({ registry: new Registry() });
  const port = await a.listen(0, '127.0.0.1');
  const b = new ComponentServer({ registry: new Registry() });
  const err = await t.throwsAsync(b.listen(port, '127.0.0.1'));
  t.is(errorCode(err), 'EADDRINUSE');
  await a.close();
  t.is(await b.listen(port, '127.0.0.1'), port);
  await b.close();
  await t.throwsAsync(get(port, '/healthz'), { code: 'ECONNREFUSED' });
});

test('flags: pflag syntax — --a=b, --a b, booleans alone or with a value, shorthands, aliases, defaults', (t) => {
  const defs = {
    name: { type: 'string' },
    port: { type: 'int', default: '10251' },
    on: { type: 'boolean', default: 'true' },
    off: { type: 'boolean' },
    wait: { type: 'duration', default: '40s' },
    addr: { type: 'string', default: '0.0.0.0', aliases: ['old-addr'] },
    help: { type: 'boolean', short: 'h' },
  } as const;
  const p = parseFlags('bin', ['--name=x', '--port', '0', '--on=false', '--off', '--old-addr', '127.0.0.1', '-h'], defs);
  t.deepEqual(p.values, { name: 'x', port: 0, on: false, off: true, wait: 40_000, addr: '127.0.0.1', help: true });
  t.deepEqual([...p.given].sort(), ['addr', 'help', 'name', 'off', 'on', 'port']);
  t.deepEqual(parseFlags('bin', [], defs).values, { name: undefined, port: 10251, on: true, off: false, wait: 40_000, addr: '0.0.0.0', help: false });
  t.is(parseFlags('bin', ['--on', 'false', '--port=-1'], defs).values.on, false);
  t.is(parseFlags('bin', ['--port=-1'], defs).values.port, -1);
  t.is(parseFlags('bin', ['--wait', '1m30s'], defs).values.wait, 90_000);
});

test('flags: errors are FlagError (INVALID_FLAG) with pflag messages', (t) => {
  const defs = { port: { type: 'int' }, on: { type: 'boolean' }, wait: { type: 'duration' }, name: { type: 'string' } } as const;
  const msg = (argv: string[]) => {
    const err = t.throws(() => parseFlags('mkube-x', argv, defs), { instanceOf: FlagError });
    t.is(err?.code, 'INVALID_FLAG');
    return err?.message;
  };
  t.is(msg(['--nope']), 'unknown flag: --nope');
  t.is(msg(['-x']), "unknown shorthand flag: 'x' in -x");
  t.is(msg(['--name']), 'flag needs an argument: --name');
  t.is(msg(['--port', 'ten']), 'invalid argument "ten" for "--port" flag: strconv.ParseInt: parsing "ten": invalid syntax');
  t.is(msg(['--on=yes']), 'invalid argument "yes" for "--on" flag: strconv.ParseBool: parsing "yes": invalid syntax');
  t.is(msg(['--wait=10']), 'invalid argument "10" for "--wait" flag: time: missing unit in duration "10"');
  t.is(msg(['--wait=10x']), 'invalid argument "10x" for "--wait" flag: time: unknown unit "x" in duration "10x"');
  t.is(msg(['--wait=s']), 'invalid argument "s" for "--wait" flag: time: invalid duration "s"');
  t.is(msg(['stray']), '"mkube-x" does not take any arguments, got ["stray"]');
});

test('component flags: the common set, --v/--log-level, --bind-address (and --metrics-bind-address), --leader-elect*', (t) => {
  const o = { bindAddress: '127.0.0.1', leaderElection: { resourceName: 'kube-scheduler' } };
  const own = { 'metrics-port': { type: 'int', default: '10251' } } as const;
  const d = parseComponentFlags('mkube-scheduler', ['--kubeconfig', '/k'], o, own);
  t.deepEqual(d.common, {
    kubeconfig: '/k', bindAddress: '127.0.0.1', logLevel: 'info', help: false,
    leaderElection: { leaderElect: true, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, resourceName: 'kube-scheduler', resourceNamespace: 'kube-system' },
  });
  t.is(d.values['metrics-port'], 10251);
  t.regex(d.usage, /--leader-elect-lease-duration duration\s+.*\(default 15s\)/);
  t.regex(d.usage, /-v, --v int/);

  const c = parseComponentFlags('mkube-scheduler', ['--leader-elect=false', '--metrics-bind-address=0.0.0.0', '--v=4', '--leader-elect-resource-name', 'other', '--leader-elect-lease-duration', '30s'], o, own);
  t.is(c.common.bindAddress, '0.0.0.0');
  t.is(c.common.logLevel, 'debug');
  t.like(c.common.leaderElection, { leaderElect: false, resourceName: 'other', leaseDurationMs: 30_000 });
  t.is(parseComponentFlags('x', ['--v', '2', '--log-level', 'warn'], o, own).common.logLevel, 'warn');
  t.is(parseComponentFlags('x', ['-v', '7'], o, own).common.logLevel, 'trace');
  t.false('leader-elect' in parseComponentFlags('x', [], { bindAddress: '::' }, {}).values);

  t.throws(() => parseComponentFlags('x', ['--leader-elect-lease-duration=5s'], o, own), { instanceOf: FlagError, message: 'leaseDuration must be greater than renewDeadline' });
  t.throws(() => parseComponentFlags('x', ['--leader-elect-retry-period=9s'], o, own), { message: 'renewDeadline must be greater than retryPeriod*JitterFactor' });
  // Not checked when there is no election.
  t.notThrows(() => parseComponentFlags('x', ['--leader-elect=false', '--leader-elect-lease-duration=5s'], o, own));
  t.throws(() => parseComponentFlags('x', ['--log-level', 'loud'], o, own), { message: /^invalid argument "loud" for "--log-level" flag/ });
  t.throws(() => parseComponentFlags('x', ['--v', 'x'], o, own), { message: 'invalid argument "x" for "-v, --v" flag: strconv.ParseInt: parsing "x": invalid syntax' });
});

test('log level mapping and Go durations', (t) => {
  t.is(logLevelFromFlags(undefined, undefined), 'info');
  t.is(logLevelFromFlags(undefined, '3'), 'info');
  t.is(logLevelFromFlags(undefined, '5'), 'debug');
  t.is(logLevelFromFlags('error', '9'), 'error');
  t.is(parseGoDuration('0'), 0);
  t.is(parseGoDuration('1.5h'), 5_400_000);
  t.is(parseGoDuration('2h45m'), 9_900_000);
  t.is(parseGoDuration('-250ms'), -250);
  t.is(parseGoDuration('.5s'), 500);
  t.is(parseGoDuration('1500us'), 1.5);
  t.throws(() => parseGoDuration(''), { message: 'time: invalid duration ""', code: 'INVALID_DURATION' } as never);
  t.throws(() => parseGoDuration('1h-2m'), { message: 'time: unknown unit "h-" in duration "1h-2m"' });
  t.is(formatGoDuration(15_000), '15s');
  t.is(formatGoDuration(90_000), '1m30s');
  t.is(formatGoDuration(3_600_000), '1h0m0s');
  t.is(formatGoDuration(250), '250ms');
});

test('logger: JSON records with the component, errors as { err } with their stack', (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const log = createLogger({ component: 'mkube-test', level: 'debug', destination: sink });
  const err = Object.assign(new Error('boom', { cause: new Error('root cause') }), { code: 'ETEST' });
  log.error({ err }, 'failed');
  log.trace('not written at debug');
  t.is(lines.length, 1);
  const rec = JSON.parse(lines[0]!);
  t.is(rec.component, 'mkube-test');
  t.is(rec.msg, 'failed');
  t.is(rec.level, 50);
  t.is(rec.err.message, 'boom: root cause'); // pino's serializer joins the cause chain
  t.is(rec.err.code, 'ETEST');
  t.regex(rec.err.stack, /Error: boom\n\s+at /);
  t.regex(rec.err.stack, /root cause/);
});

test('FakeClock: timers fire in time order when advanced, including timers set by timers; cancel works', (t) => {
  const clock = new FakeClock(1000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
  clock.setTimeout(() => {
    fired.push(`a@${clock.now()}`);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 50);
  }, 100);
  const gone = clock.setTimeout(() => fired.push('never'), 10);
  gone.cancel();
  clock.advance(99);
  t.deepEqual(fired, []);
  clock.advance(200);
  t.deepEqual(fired, ['a@1100', 'c@1150', 'b@1200']);
  t.is(clock.now(), 1299);
  t.is(clock.pending(), 0);
});
