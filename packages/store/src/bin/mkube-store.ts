#!/usr/bin/env node
// mkube-store: one member of the store cluster, with etcd's flag names.
import * as grpc from '@grpc/grpc-js';
import { exitOnStartupError, StartupFailure, type ListenerSpec } from '@mkube/api';
import { pino } from 'pino';
import { ConfigError, USAGE, parseFlags } from '../server/config.js';
import { STORE_VERSION, StartupError } from '../server/member.js';
import { startStore } from '../embedded/store_server.js';
import { runSnapshotCommand } from './snapshot_command.js';

async function main(): Promise<number> {
  if (process.argv[2] === 'snapshot') return runSnapshotCommand(process.argv.slice(3));
  let parsed;
  try {
    parsed = parseFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError || (err as { code?: string }).code === 'INVALID_URL') {
      process.stderr.write(`mkube-store: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`mkube-store (etcd API ${STORE_VERSION})\n`);
    return 0;
  }
  // A start-up failure is one line naming the listener, file or data dir (grpc-js's own error log
  // stays quiet until the listeners are up); the stack goes to the log at debug level.
  const cfg = parsed.config;
  const log = pino({ level: cfg.logLevel, base: { component: 'mkube-store', member: cfg.name } });
  const listeners = (what: string, urls: string[]): ListenerSpec[] =>
    urls.flatMap((u) => {
      try {
        const url = new URL(u);
        return [{ what: `${what} ${u}`, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) }];
      } catch {
        return [];
      }
    });
  const quietGrpc = process.env.GRPC_VERBOSITY === undefined;
  if (quietGrpc) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  let store;
  try {
    store = await startStore(cfg, log);
  } catch (err) {
    const e = err instanceof StartupError ? new StartupFailure(err.code, `${err.message} [${err.code}]`, { cause: err }) : err;
    exitOnStartupError('mkube-store', e, {
      listeners: [...listeners('client URL', cfg.listenClientURLs), ...listeners('peer URL', cfg.listenPeerURLs), ...listeners('metrics URL', cfg.listenMetricsURLs)],
      files: [
        { what: '--cert-file', path: cfg.clientTLS?.certFile }, { what: '--key-file', path: cfg.clientTLS?.keyFile }, { what: '--trusted-ca-file', path: cfg.clientTLS?.trustedCAFile },
        { what: '--peer-cert-file', path: cfg.peerTLS?.certFile }, { what: '--peer-key-file', path: cfg.peerTLS?.keyFile }, { what: '--peer-trusted-ca-file', path: cfg.peerTLS?.trustedCAFile },
      ].flatMap((f) => (f.path ? [{ what: f.what, path: f.path }] : [])),
    }, log);
  }
  if (quietGrpc) grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (sig: string) => {
      if (signalled) return;
      signalled = true;
      process.stderr.write(`mkube-store: ${sig}, stopping (leadership is handed over first)\n`);
      store.stop(true).then(() => resolve(0), () => resolve(1));
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    void store.failed.then((err) => { // resolves (never rejects) with what stopped the store
      process.stderr.write(`mkube-store: stopped on an unrecoverable error: ${err.message}\n`);
      resolve(1);
    });
  });
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    exitOnStartupError('mkube-store', err);
  },
);
