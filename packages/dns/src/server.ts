/**
 * The DNS listener: UDP and TCP (two-byte length framing, several queries
 * per connection) on one address and port. Each query is answered from the
 * cluster zone (authoritative) or forwarded; a UDP answer larger than the
 * client's limit (512 bytes, or its EDNS payload size) goes out truncated —
 * the TC bit with the question only — so the client asks again over TCP.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question } from 'dns-packet';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Forwarder } from './forwarder.js';
import type { ClusterZone } from './zone.js';

/** Header RCODE values (RFC 1035 4.1.1). */
export const RCODE: Readonly<Record<string, number>> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const OPCODE_QUERY = 0;
const MAX_UDP = 512;
const OUR_EDNS_SIZE = 1232;

export interface DnsServerOptions {
  zone: ClusterZone;
  forwarder: Forwarder;
  log: Logger;
  registry?: Registry;
}

type Decoded = DecodedPacket & { opcode?: string };

export class DnsServer {
  private udp4: Socket | undefined;
  private tcp: Server | undefined;
  private readonly conns = new Set<TcpSocket>();
  private readonly requests: Counter<'proto' | 'type'> | undefined;
  private readonly responses: Counter<'rcode'> | undefined;
  private readonly duration: Histogram<'source'> | undefined;
  port = 0;

  constructor(private readonly o: DnsServerOptions) {
    if (o.registry) {
      this.requests = new Counter({ name: 'mkube_dns_requests_total', help: 'DNS queries received, by transport and question type.', labelNames: ['proto', 'type'], registers: [o.registry] });
      this.responses = new Counter({ name: 'mkube_dns_responses_total', help: 'DNS responses sent, by rcode.', labelNames: ['rcode'], registers: [o.registry] });
      this.duration = new Histogram({ name: 'mkube_dns_request_duration_seconds', help: 'Time to answer a query, by source (zone, forward, cache).', labelNames: ['source'], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 2.5], registers: [o.registry] });
    }
  }

  /** Listens on UDP and TCP `host:port` (0: a free port, the same for both). */
  async listen(port: number, host: string): Promise<number> {
    const tcp = createServer((sock) => this.serveTcp(sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => resolve());
    });
    this.tcp = tcp;
    const bound = (tcp.address() as { port: number }).port;
    const udp = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(bound, host, () => resolve());
    });
    udp.on('error', (err) => this.o.log.error({ err }, 'UDP socket error'));
    udp.on('message', (msg, rinfo) => {
      void this.answer(msg, 'udp').then(
        (out) => {
          if (out) udp.send(out, rinfo.port, rinfo.address);
        },
        (err: unknown) => this.o.log.warn({ err }, 'answering a UDP query failed'),
      );
    });
    this.udp4 = udp;
    this.port = bound;
    return bound;
  }

  private serveTcp(sock: TcpSocket): void {
    this.conns.add(sock);
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    // Idle connections go after 10 s (RFC 7766 suggests seconds).
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.answer(msg, 'tcp').then(
          (out) => {
            if (!out || sock.destroyed) return;
            const head = Buffer.alloc(2);
            head.writeUInt16BE(out.length);
            sock.write(Buffer.concat([head, out]));
          },
          (err: unknown) => this.o.log.warn({ err }, 'answering a TCP query failed'),
        );
      }
    });
  }

  /** The encoded response to one query message (undefined: not a query we can answer at all). */
  async answer(msg: Buffer, proto: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const started = process.hrtime.bigint();
    let q: Decoded;
    try {
      q = dnsPacket.decode(msg) as Decoded;
    } catch {
      if (msg.length < 12) return undefined;
      // A header we can read but a body we cannot: FORMERR with the id.
      return this.reply({ id: msg.readUInt16BE(0), flags: 0, questions: [] }, 'FORMERR', [], [], [], false, proto, undefined);
    }
    if (q.type !== 'query') return undefined;
    const question = q.questions?.[0];
    this.requests?.inc({ proto, type: question?.type ?? 'none' });
    const opt = q.additionals?.find((a) => a.type === 'OPT') as ({ udpPayloadSize?: number } & Answer) | undefined;
    const limit = proto === 'tcp' ? 65535 : Math.max(MAX_UDP, Math.min(opt?.udpPayloadSize ?? MAX_UDP, 65535));
    if ((q.opcode ?? 'QUERY') !== 'QUERY' || (q.flags !== undefined && ((q.flags >> 11) & 0xf) !== OPCODE_QUERY)) return this.reply(q, 'NOTIMP', [], [], [], false, proto, opt, limit);
    if (!question || (q.questions?.length ?? 0) !== 1) return this.reply(q, 'FORMERR', [], [], [], false, proto, opt, limit);
    const zoneAnswer = this.o.zone.lookup(question.name, question.type);
    let out: Buffer;
    let source: string;
    if (zoneAnswer) {
      source = 'zone';
      out = this.reply(q, zoneAnswer.rcode, zoneAnswer.answers, zoneAnswer.authorities, zoneAnswer.additionals, true, proto, opt, limit);
    } else {
      const f = await this.o.forwarder.resolve(question.name, question.type);
      source = f.cached ? 'cache' : 'forward';
      out = this.reply(q, f.rcode, f.answers, f.authorities, f.additionals, false, proto, opt, limit);
    }
    this.duration?.observe({ source }, Number(process.hrtime.bigint() - started) / 1e9);
    return out;
  }

  private reply(q: Packet, rcode: string, answers: Answer[], authorities: Answer[], additionals: Answer[], authoritative: boolean, proto: 'udp' | 'tcp', opt: Answer | undefined, limit = MAX_UDP): Buffer {
    this.responses?.inc({ rcode });
    const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    let flags = rd | dnsPacket.RECURSION_AVAILABLE | (RCODE[rcode] ?? RCODE.SERVFAIL!);
    if (authoritative) flags |= dnsPacket.AUTHORITATIVE_ANSWER;
    const questions: Question[] = q.questions ?? [];
    const ednsOut: Answer[] = opt ? [{ type: 'OPT', name: '.', udpPayloadSize: OUR_EDNS_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as Answer] : [];
    const full: Packet = { type: 'response', id: q.id ?? 0, flags, questions, answers, authorities, additionals: [...additionals, ...ednsOut] };
    const buf = dnsPacket.encode(full);
    if (proto === 'tcp' || buf.length <= limit) return buf;
    // Too large for this UDP client: the question alone with TC, so it retries over TCP (RFC 1035 4.2.1, RFC 7766).
    return dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: flags | dnsPacket.TRUNCATED_RESPONSE, questions, answers: [], authorities: [], additionals: ednsOut });
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.udp4 ? this.udp4.close(() => resolve()) : resolve()));
    this.tcp = undefined;
    this.udp4 = undefined;
  }
}
