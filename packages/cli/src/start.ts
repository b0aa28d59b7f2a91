// `mkube start`: starts again the processes of this machine's part of a cluster (mkube init / mkube join) that are
// not running — after a reboot or a crash — with the command lines recorded in DIR/cluster.json, in the order they
// were first started (the store member before the API server before the components), and records their new pids.
// A store member restarts from its data directory (its --initial-cluster flags only matter on first start).
import { resolve } from 'node:path';
import { readState, startComponent, statePath, writeState, isRunning } from './processes.js';

export class StartError extends Error {
  readonly code = 'START_NO_STATE';
}

/** Starts every recorded process that is not running; returns their names. */
export function startStopped(dataDirArg: string): string[] {
  const dataDir = resolve(dataDirArg);
  const state = readState(dataDir);
  if (!state) throw new StartError(`nothing to start: no state in ${dataDir} (${statePath(dataDir)}); this machine is not part of a cluster (mkube init / mkube join)`);
  if (state.hosts?.length) throw new StartError(`${dataDir} is a lab cluster of several hosts: use mkube up --control-planes to build it again`);
  const started: string[] = [];
  for (const c of state.components) {
    if (isRunning(c)) continue;
    const rec = startComponent(dataDir, c.name, c.command);
    c.pid = rec.pid;
    started.push(c.name);
    writeState(state);
  }
  return started;
}
