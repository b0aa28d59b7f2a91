// Loopback ports: a TCP port that is free on `host` right now (the OS picks
// it; there is a window before the caller binds it). For listeners whose port
// does not matter: an embedded store member's, a local cluster's component
// metrics, tests (@mkube/testing re-exports it).
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error(`no TCP port on ${host}`));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}
