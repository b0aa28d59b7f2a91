#!/usr/bin/env node
/** mkube-ingress: the Ingress controller of IngressClass mkube, serving HTTP and HTTPS on this node's address. */
import { createLogger, parseComponentFlags } from '@mkube/component-base';
import { usageErrorsExit2 } from '@mkube/api';
import { exitOnHelp, runClientComponent } from '@mkube/client';
import { IngressController } from '../controller.js';

const BINARY = 'mkube-ingress';
const { values, common, usage } = usageErrorsExit2(BINARY, () =>
  parseComponentFlags(BINARY, process.argv.slice(2), { bindAddress: '127.0.0.1' }, {
    'ingress-bind-address': { type: 'string', default: '0.0.0.0', arg: 'IP', usage: 'The address the HTTP and HTTPS listeners bind (the node address).' },
    'http-port': { type: 'int', default: '80', usage: 'The HTTP port (0: any free port).' },
    'https-port': { type: 'int', default: '443', usage: 'The HTTPS port (0: any free port).' },
    'metrics-port': { type: 'int', default: '10254', usage: 'Port of /metrics, /healthz, /livez and /readyz (0: any free port, -1: off).' },
    'publish-status-address': { type: 'string', default: '', usage: 'Comma-separated addresses for status.loadBalancer.ingress; default: the InternalIP of every Node.' },
  }),
);
exitOnHelp(values.help, usage);
const log = createLogger({ component: BINARY, level: common.logLevel });
await runClientComponent({
  binary: BINARY,
  common,
  log,
  context: {
    listeners: [
      { what: 'HTTP', port: values['http-port'], host: values['ingress-bind-address'] },
      { what: 'HTTPS', port: values['https-port'], host: values['ingress-bind-address'] },
      { what: 'metrics and health', port: values['metrics-port'], host: common.bindAddress },
    ],
  },
  start: async (client) => {
    const controller = new IngressController({
      client,
      log,
      host: values['ingress-bind-address'],
      httpPort: values['http-port'],
      httpsPort: values['https-port'],
      metricsHost: common.bindAddress,
      metricsPort: values['metrics-port'],
      publishAddresses: values['publish-status-address'].split(',').map((s) => s.trim()).filter(Boolean),
    });
    await controller.start();
    return { stop: () => controller.stop(), fields: { httpPort: controller.proxy.httpPort, httpsPort: controller.proxy.httpsPort, metricsPort: controller.metricsPort } };
  },
});
