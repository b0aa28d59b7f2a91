// mkube-dns's DNS server (the zone and listener of packages/dns, as the mkube-dns binary runs them)
// on a zone of BENCH_SERVICES services, in its own process; prints {"port":N} once listening.
import { pino } from 'pino';
import { ClusterZone } from '../../packages/dns/src/zone.js';
import { DnsServer } from '../../packages/dns/src/server.js';
import { Forwarder } from '../../packages/dns/src/forwarder.js';
import { Registry } from 'prom-client';
import { services } from './zone.js';

const zone = new ClusterZone();
for (const s of services(Number(process.env.BENCH_SERVICES ?? 1000))) zone.upsertService(s);
// With its metrics, as the component serves them.
const server = new DnsServer({ zone, forwarder: new Forwarder({ upstreams: [] }), log: pino({ level: 'silent' }), registry: new Registry() });
const port = await server.listen(0, '127.0.0.1');
process.stdout.write(`${JSON.stringify({ port })}\n`);
