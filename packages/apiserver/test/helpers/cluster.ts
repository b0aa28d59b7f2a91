// The API server's tests on @mkube/testing's API server fixture (a real etcd
// 3.4, or with MKUBE_TEST_STORE=mkube the embedded mkube-store member, and an
// in-process API server from this package's sources); `stop()` removes
// everything. The request and watch helpers are @mkube/testing's.
import { startApiFixture, type ApiFixture } from '@mkube/testing';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/server.js';

export { api, freePort, TOKENS, watchEvents, type Reply } from '@mkube/testing';

export type Fixture = ApiFixture<ApiServer>;

/** etcd (or the embedded store) and an API server with the static tokens of TOKENS. */
export function startFixture(extra: Partial<ApiServerOptions> = {}): Promise<Fixture> {
  return startApiFixture(startApiServer, { extra });
}
