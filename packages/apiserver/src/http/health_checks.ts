// The API server's health checks: the named-check logic of /livez, /readyz and /healthz is
// @mkube/component-base's HealthChecks (shared with every component); this file adds the
// check only the API server has, that the store answers.
import type { HealthCheck } from '@mkube/component-base';
import type { EtcdClient } from '@mkube/store';

export { HealthChecks, staticCheck, type HealthCheck, type HealthEndpoint, type HealthResult } from '@mkube/component-base';

const ETCD_CHECK_TIMEOUT_MS = 2000;

/** The store answers a linearizable read within ETCD_CHECK_TIMEOUT_MS (kube-apiserver's etcd check). */
export function etcdCheck(etcd: EtcdClient, key: string): HealthCheck {
  return {
    name: 'etcd',
    async check() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`no answer from the store within ${ETCD_CHECK_TIMEOUT_MS} ms`), ETCD_CHECK_TIMEOUT_MS);
      });
      try {
        return await Promise.race([etcd.get(key, { countOnly: true }).then(() => undefined, (err: Error) => err.message), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
