// HTTP/2 keepalive for our gRPC client and server sessions (grpc-js' keepalive_time_ms /
// keepalive_timeout_ms): a PING every `everyMs`; a session whose PING is not acknowledged within
// `timeoutMs` is destroyed. Stops by itself when the session closes.
import type * as http2 from 'node:http2';

export function keepSessionAlive(session: http2.Http2Session, everyMs: number, timeoutMs: number): void {
  if (everyMs <= 0) return;
  const timer = setInterval(() => {
    let acked = false;
    const dead = setTimeout(() => {
      if (!acked) session.destroy();
    }, timeoutMs);
    dead.unref();
    try {
      session.ping(() => {
        acked = true;
        clearTimeout(dead);
      });
    } catch {
      clearTimeout(dead);
    }
  }, everyMs);
  timer.unref();
  session.once('close', () => clearInterval(timer));
}
