#!/usr/bin/env node
// mkube-store: one member of the store cluster, with etcd's flag names.
import { ConfigError, USAGE, parseFlags } from '../server/config.js';
import { STORE_VERSION, StartupError } from '../server/member.js';
import { startStore } from '../server/store_server.js';

async function main(): Promise<number> {
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
  let store;
  try {
    store = await startStore(parsed.config);
  } catch (err) {
    if (err instanceof StartupError) {
      process.stderr.write(`mkube-store: ${err.message} [${err.code}]\n`);
      return 1;
    }
    process.stderr.write(`mkube-store: ${(err as Error).message}\n`);
    return 1;
  }
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
    store.failed.then((err) => {
      process.stderr.write(`mkube-store: stopped on an unrecoverable error: ${err.message}\n`);
      resolve(1);
    });
  });
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`mkube-store: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
