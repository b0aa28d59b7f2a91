/**
 * The start-up and shutdown every API-client component binary shares (mkube-dns, mkube-ingress,
 * the cloud controller manager): --kubeconfig required and loaded, start-up failures printed as one
 * line naming what failed (port taken, file unreadable) with exit 1, "<binary> started" logged, a rotated client
 * certificate in --kubeconfig followed (certificate_reload.ts), and SIGTERM/SIGINT stopping the component, closing
 * its client and exiting 0.
 */
import type { Logger, ComponentSettings } from '@mkube/component-base';
import { requireKubeconfig } from '@mkube/component-base';
import { exitOnStartupError, loadingFile, usageErrorsExit2, type StartupContext } from '@mkube/api';
import { KubeClient } from './client.js';
import { loadKubeconfig, type ClientConfig } from './config.js';
import { followKubeconfigCertificate } from './certificate_reload.js';

/** What a component gives back once started: how to stop it and what to log about it. */
export interface StartedComponent {
  stop(): Promise<void>;
  /** Fields of the "<binary> started" log line (ports, identity...). */
  fields?: Record<string, unknown>;
}

export interface ClientComponentMain {
  binary: string;
  common: ComponentSettings;
  log: Logger;
  /** The listeners (and files other than --kubeconfig) a start-up failure may be about. */
  context: StartupContext;
  /** Synchronous set-up that may fail on a file or a value (reported as a start-up failure). */
  prepare?: (kubeconfig: ClientConfig) => void;
  start: (client: KubeClient, kubeconfig: ClientConfig) => Promise<StartedComponent>;
}

/** Prints the usage and exits 0 when --help was given. */
export function exitOnHelp(help: boolean | undefined, usage: string): void {
  if (!help) return;
  process.stdout.write(usage);
  process.exit(0);
}

/** Loads the kubeconfig, starts the component and installs the signal handlers; exits on a start-up failure. */
export async function runClientComponent(o: ClientComponentMain): Promise<StartedComponent> {
  const kubeconfigPath = usageErrorsExit2(o.binary, () => requireKubeconfig(o.common));
  const context: StartupContext = { ...o.context, files: [...(o.context.files ?? []), { what: '--kubeconfig', path: kubeconfigPath }] };
  let kubeconfig: ClientConfig;
  try {
    kubeconfig = loadingFile('--kubeconfig', kubeconfigPath, () => loadKubeconfig(kubeconfigPath));
    o.prepare?.(kubeconfig);
  } catch (err) {
    exitOnStartupError(o.binary, err, context, o.log);
  }
  const client = new KubeClient({ ...kubeconfig, userAgent: `${o.binary}/0.1` });
  client.onFailover = (e) => o.log.warn(e, 'API server failover');
  // A rotated certificate (a node agent's pem, a renewed add-on identity) is picked up from --kubeconfig.
  const stopReload = followKubeconfigCertificate(client, kubeconfigPath, {
    onReload: (info) => o.log.info(info, 'client certificate reloaded from --kubeconfig'),
    onError: (err) => o.log.warn({ err }, 'reading --kubeconfig for a rotated client certificate failed; the current one stays in use'),
  });
  const started = await o.start(client, kubeconfig).catch((err: unknown) => exitOnStartupError(o.binary, err, context, o.log));
  o.log.info(started.fields ?? {}, `${o.binary} started`);
  const shutdown = (signal: string) => {
    o.log.info({ signal }, 'shutting down');
    stopReload();
    void started.stop().finally(() => {
      client.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return started;
}
