// A minimal DNS client for tests (dns-packet over UDP or TCP, one query, bounded by a timeout).
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket, { type DecodedPacket } from 'dns-packet';

export type Reply = DecodedPacket & { rcode: string };

let nextId = 1;

export function query(port: number, name: string, type: string, opts: { tcp?: boolean; host?: string; edns?: number; timeoutMs?: number } = {}): Promise<Reply> {
  const host = opts.host ?? '127.0.0.1';
  const id = (nextId = (nextId + 1) & 0xffff);
  const packet = {
    type: 'query' as const,
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: type as never, name }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns } as never] : [],
  };
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no answer for ${name} ${type} within ${timeoutMs} ms`)), timeoutMs);
    let close = () => {};
    const finish = (err?: Error, r?: Reply) => {
      clearTimeout(timer);
      close();
      if (err) reject(err);
      else resolve(r!);
    };
    if (opts.tcp) {
      const sock = connect(port, host);
      close = () => sock.destroy();
      let buf = Buffer.alloc(0);
      sock.on('error', (e) => finish(e));
      sock.on('connect', () => sock.write(dnsPacket.streamEncode(packet)));
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(undefined, dnsPacket.streamDecode(buf) as Reply);
      });
    } else {
      const sock = createSocket('udp4');
      close = () => sock.close();
      sock.on('error', (e) => finish(e));
      sock.on('message', (msg) => {
        const r = dnsPacket.decode(msg) as Reply;
        if (r.id === id) finish(undefined, Object.assign(r, { size: msg.length }));
      });
      sock.send(dnsPacket.encode(packet), port, host);
    }
  });
}

export const dataOf = (r: Reply, type?: string): unknown[] => (r.answers ?? []).filter((a) => !type || a.type === type).map((a) => (a as { data: unknown }).data);
