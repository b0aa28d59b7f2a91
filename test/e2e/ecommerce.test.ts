// The seed's whole e-commerce example end to end (issue 14), as a user runs it: `mkube up --workers 2`
// (lab mkshop: nodes 10.213.206.0/24, pods 10.213.207.0/24 and 10.213.208.0/24, LoadBalancer pool
// 10.213.212.0/24) with mkube-dns, mkube-ingress and the cloud controller manager it starts, then
// `kubectl apply -f examples/ecommerce/` with the real kubectl 1.33, and what a user would check:
// http://example.com/api and /frontend through the Ingress on either node reach the cart and the
// frontend Services (another host gets 404; kubectl shows the Ingress's class, address and Sync events);
// HTTPS serves ingress-nginx's fake certificate until the user creates the TLS Secret; the payment
// gateway's LoadBalancer address answers from the host; the frontend reaches the cart (and the
// gateway in another namespace) by DNS name; the catalog etcd members form one cluster under their
// stable names and answer by them; the transcode Job completes with its output; the frontend's
// logging sidecar shows nginx's lines for the requests sent; the cart's HPA reads its CPU metrics.
// The whole file within 4 minutes; `mkube down` removes it all.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HorizontalPodAutoscaler, Ingress, Pod, Service } from '@mkube/api';
import { freePort, labDown, REPO_ROOT, run, waitFor } from '@mkube/testing';

const LAB = 'mkshop';
const SUBNET = 206; // nodes 10.213.206.0/24, pods 10.213.207.0/24 and 10.213.208.0/24
const POOL = '10.213.212.0/24';
const NODE_IPS = ['10.213.206.11', '10.213.206.12'];
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const MKUBE = join(REPO_ROOT, 'packages', 'cli', 'dist', 'src', 'bin', 'mkube.js');
const EXAMPLE = join(REPO_ROOT, 'examples', 'ecommerce');
const ETCD_DOMAIN = 'etcd.catalog.svc.cluster.local';

// mkube up and every test within 4 minutes; the clean-up after it has its own bounds.
const BUDGET_MS = 240_000;
let deadline = Date.now() + BUDGET_MS;
const left = () => Math.max(1_000, deadline - Date.now());

let dataDir = '';
let kubeconfig = '';
let upOutput = '';

const k = async (args: string[], timeoutMs = 60_000) => (await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], Math.min(timeoutMs, left()))).stdout;
const getJson = async <T>(args: string[]) => JSON.parse(await k(['get', ...args, '-o', 'json'])) as T;
const podNames = async (ns: string, app: string) => (await getJson<{ items: Pod[] }>(['pods', '-n', ns, '-l', `app=${app}`])).items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!);

/** curl from the host: status code and body (status 0 when the connection failed). */
const curl = (url: string, extra: string[] = [], timeoutS = 5) =>
  new Promise<{ status: number; body: string }>((resolve) =>
    execFile('curl', ['-s', '--max-time', String(timeoutS), '-w', '\n%{http_code}', ...extra, url], (_err, out) => {
      const i = out.lastIndexOf('\n');
      resolve({ status: Number(out.slice(i + 1)) || 0, body: out.slice(0, i).trim() });
    }));
const shop = (ip: string, path: string) => curl(`http://${ip}${path}`, ['-H', 'Host: example.com']);

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mkube-e2e-shop-'));
  kubeconfig = join(dataDir, 'admin.kubeconfig');
  const started = Date.now();
  deadline = started + BUDGET_MS;
  upOutput = (await run(process.execPath, [MKUBE, 'up', '--data-dir', dataDir, '--workers', '2', '--lab-name', LAB, '--lab-subnet', String(SUBNET), '--lb-address-pool', POOL, '--api-port', String(await freePort())], 150_000)).stdout;
  console.log(`mkube up --workers 2: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.after.always(async () => {
  if (dataDir) await run(process.execPath, [MKUBE, 'down', '--data-dir', dataDir], 120_000).catch((err: Error) => console.log(`mkube down: ${err.message}`));
  // Also after a start-up that failed before the cluster state named the lab.
  await labDown(LAB).catch(() => undefined);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test.serial('mkube up starts cluster DNS, the Ingress controller and the cloud controller manager; kubectl apply -f examples/ecommerce/ and everything rolls out', async (t) => {
  t.timeout(left());
  t.regex(upOutput, /Nodes mkshop-w1, mkshop-w2 are Ready/);
  t.regex(upOutput, /Cloud controller manager healthy \(LoadBalancer addresses from 10\.213\.212\.0\/24\)/);
  t.regex(upOutput, /Cluster DNS answering \(kube-system\/kube-dns 10\.213\.200\.10/);
  t.regex(upOutput, /Ingress controller serving \(IngressClass mkube\) on 10\.213\.206\.11:80\/443, 10\.213\.206\.12:80\/443/);
  const started = Date.now();
  const applied = await k(['apply', '-f', EXAMPLE]);
  t.log(applied.trim());
  for (const line of ['namespace/storefront created', 'deployment.apps/frontend created', 'horizontalpodautoscaler.autoscaling/cart created', 'ingress.networking.k8s.io/shop created', 'service/gateway created', 'statefulset.apps/etcd created', 'job.batch/transcode-trailer created', 'cronjob.batch/nightly-reencode created']) {
    t.true(applied.includes(line), line);
  }
  // Every workload at once (they roll out side by side), each bounded by what is left.
  const rollouts: Array<[string, string, RegExp]> = [
    ['storefront', 'deployment/frontend', /successfully rolled out/],
    ['storefront', 'deployment/cart', /successfully rolled out/],
    ['payments', 'deployment/gateway', /successfully rolled out/],
    ['catalog', 'statefulset/etcd', /partitioned roll out complete: 3 new pods have been updated/],
  ];
  const outs = await Promise.all(rollouts.map(([ns, what]) => k(['rollout', 'status', '-n', ns, what, `--timeout=${Math.floor(left() / 1000) - 5}s`], left())));
  for (const [i, [, what, re]] of rollouts.entries()) t.regex(outs[i]!, re, what);
  t.log(`everything rolled out ${((Date.now() - started) / 1000).toFixed(1)} s after kubectl apply`);
});

test.serial('Ingress: http://example.com/api reaches the cart and /frontend the frontend through either node; another host gets 404; the Ingress shows its class and address', async (t) => {
  t.timeout(Math.min(60_000, left()));
  const cartPods = await podNames('storefront', 'cart');
  for (const ip of NODE_IPS) {
    const api = await waitFor(`example.com/api/cart via ${ip}`, 30_000, async () => {
      const r = await shop(ip, '/api/cart');
      return r.status === 200 ? r : undefined;
    });
    t.regex(api.body, /^cart (cart-[a-z0-9-]+): 3 items$/);
    t.true(cartPods.includes(/^cart (\S+):/.exec(api.body)![1]!), api.body);
    const fe = await shop(ip, `/frontend/?from-${ip}`);
    t.is(fe.status, 200);
    t.regex(fe.body, /<div id="root">mkube shop frontend<\/div>/);
    t.regex((await shop(ip, '/frontend/app.js')).body, /fetch\('\/api\/cart'\)/);
    const other = await curl(`http://${ip}/api/cart`, ['-H', 'Host: shop.example.org']);
    t.is(other.status, 404, 'no rule and no default backend for another host');
  }
  // The default class was written into the Ingress at creation, and the controller filled in the address.
  const ing = await waitFor('the Ingress address', 20_000, async () => {
    const i = await getJson<Ingress>(['ingress', '-n', 'storefront', 'shop']);
    return (i.status?.loadBalancer?.ingress?.length ?? 0) === 2 ? i : undefined;
  });
  t.is(ing.spec?.ingressClassName, 'mkube');
  t.deepEqual(ing.status?.loadBalancer?.ingress?.map((a) => a.ip).sort(), NODE_IPS);
  const table = await k(['get', 'ingress', '-n', 'storefront']);
  t.log(table.trim());
  t.regex(table, /^shop\s+mkube\s+example\.com\s+10\.213\.206\.11,10\.213\.206\.12\s+80, 443\s+/m);
  // kubectl describe: the rules with their backends' endpoints, and the controller's Sync events.
  const described = await k(['describe', 'ingress', '-n', 'storefront', 'shop']);
  t.regex(described, /\/api\s+cart:http \([\d.:, ]+\)/);
  t.regex(described, /Normal\s+Sync\s+.*mkube-ingress\s+Scheduled for sync/);
});

test.serial('HTTPS for example.com: the fake certificate until the Secret exists, then the Secret\'s certificate (kubectl create secret tls)', async (t) => {
  t.timeout(Math.min(60_000, left()));
  const ip = NODE_IPS[0]!;
  const https = (extra: string[]) => new Promise<{ subject?: string; body: string }>((resolve) =>
    execFile('curl', ['-sS', '-v', '--max-time', '5', '--resolve', `example.com:443:${ip}`, ...extra, 'https://example.com/api/cart'], (_err, out, err) =>
      resolve({ subject: /^\*\s+subject: (.*)$/m.exec(err)?.[1], body: out.trim() })));
  const fake = await https(['-k']);
  t.is(fake.subject, 'O=Acme Co; CN=Kubernetes Ingress Controller Fake Certificate');
  t.regex(fake.body, /^cart cart-[a-z0-9-]+: 3 items$/);
  // A certificate for example.com from a CA of the test's own, as a user would bring one.
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=shop-test-ca', '-keyout', join(dataDir, 'ca.key'), '-out', join(dataDir, 'ca.crt')], 30_000);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=example.com', '-keyout', join(dataDir, 'tls.key'), '-out', join(dataDir, 'tls.csr')], 30_000);
  writeFileSync(join(dataDir, 'tls.ext'), 'subjectAltName=DNS:example.com\n');
  await run('openssl', ['x509', '-req', '-in', join(dataDir, 'tls.csr'), '-CA', join(dataDir, 'ca.crt'), '-CAkey', join(dataDir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', join(dataDir, 'tls.ext'), '-out', join(dataDir, 'tls.crt')], 30_000);
  t.regex(await k(['create', 'secret', 'tls', 'example-com-tls', '-n', 'storefront', `--cert=${join(dataDir, 'tls.crt')}`, `--key=${join(dataDir, 'tls.key')}`]), /secret\/example-com-tls created/);
  const real = await waitFor('the Secret\'s certificate on example.com', 20_000, async () => {
    const r = await https(['--cacert', join(dataDir, 'ca.crt')]);
    return r.subject === 'CN=example.com' ? r : undefined;
  });
  t.regex(real.body, /^cart cart-[a-z0-9-]+: 3 items$/);
});

test.serial('the payment gateway LoadBalancer Service gets an address from the pool that answers from the host', async (t) => {
  t.timeout(Math.min(60_000, left()));
  const ip = await waitFor('the gateway load-balancer address', 30_000, async () => (await getJson<Service>(['service', '-n', 'payments', 'gateway'])).status?.loadBalancer?.ingress?.[0]?.ip);
  t.regex(ip, /^10\.213\.212\.\d+$/);
  const table = await k(['get', 'service', '-n', 'payments', 'gateway']);
  t.log(table.trim());
  t.regex(table, new RegExp(`^gateway\\s+LoadBalancer\\s+10\\.213\\.200\\.\\d+\\s+${ip.replace(/\./g, '\\.')}\\s+80:\\d+/TCP`, 'm'));
  const pay = await waitFor(`http://${ip}/pay`, 20_000, async () => {
    const r = await curl(`http://${ip}/pay`, [], 2);
    return r.status === 200 ? r.body : undefined;
  });
  t.regex(pay, /^payment gateway gateway-[a-z0-9-]+: ready$/);
});

test.serial('the frontend reaches the cart by its DNS names (and the payment gateway in its namespace); its logging sidecar shows nginx\'s lines', async (t) => {
  t.timeout(Math.min(60_000, left()));
  const fe = await podNames('storefront', 'frontend');
  t.is(fe.length, 2);
  // As docs/EXAMPLES.md has a user do it: kubectl picks a pod of the Deployment.
  const inFrontend = (cmd: string) => k(['exec', '-n', 'storefront', 'deploy/frontend', '-c', 'log-shipper', '--', 'sh', '-c', cmd]);
  t.regex(await inFrontend('timeout 10 wget -qO- http://cart/api/cart'), /^cart cart-[a-z0-9-]+: 3 items\n$/);
  t.regex(await inFrontend('timeout 10 wget -qO- http://cart.storefront.svc.cluster.local/api/cart'), /^cart cart-[a-z0-9-]+: 3 items\n$/);
  t.regex(await inFrontend('timeout 10 wget -qO- http://gateway.payments/pay'), /^payment gateway gateway-[a-z0-9-]+: ready\n$/);
  const cartIP = (await getJson<Service>(['service', '-n', 'storefront', 'cart'])).spec?.clusterIP ?? '';
  t.regex(await inFrontend('nslookup cart.storefront.svc.cluster.local'), new RegExp(`Address:\\s+${cartIP.replace(/\./g, '\\.')}\\b`));
  // The requests of the Ingress test went through both nodes to the two replicas: each query string is
  // in one replica's access log, shipped to the sidecar's stdout.
  const logs = await waitFor('the access log lines in the sidecars', 20_000, async () => {
    const all = (await Promise.all(fe.map((p) => k(['logs', '-n', 'storefront', p, '-c', 'log-shipper'])))).join('');
    return NODE_IPS.every((ip) => all.includes(`GET /frontend/?from-${ip} HTTP/1.1" 200`)) ? all : undefined;
  });
  const line = logs.split('\n').find((l) => l.includes('GET /frontend/?from-'))!;
  t.log(line);
  t.regex(line, /^\S+ - - \[[^\]]+\] "GET \/frontend\/\?from-10\.213\.206\.1[12] HTTP\/1\.1" 200 \d+ "-" "curl\/[\d.]+"/);
});

test.serial('the catalog etcd members form one cluster under their stable names and answer by them', async (t) => {
  t.timeout(Math.min(60_000, left()));
  const etcdctl = (pod: string, endpoint: string, args: string[]) => k(['exec', '-n', 'catalog', pod, '-c', 'etcd', '--', 'etcdctl', `--endpoints=${endpoint}`, '--command-timeout=5s', ...args], 30_000);
  const list = (await etcdctl('etcd-0', 'http://127.0.0.1:2379', ['member', 'list'])).trim().split('\n').map((l) => l.split(', '));
  t.log(list.map((m) => m.join(' ')).join('\n'));
  t.deepEqual(list.map((m) => m[2]).sort(), ['etcd-0', 'etcd-1', 'etcd-2']);
  for (const m of list) {
    t.is(m[1], 'started');
    t.is(m[3], `http://${m[2]!}.${ETCD_DOMAIN}:2380`);
  }
  t.is((await etcdctl('etcd-0', 'http://127.0.0.1:2379', ['put', 'catalog/sku-1042', 'blue widget'])).trim(), 'OK');
  // Another member, and the frontend in another namespace, reach members by their stable DNS names.
  t.is((await etcdctl('etcd-1', `http://etcd-2.${ETCD_DOMAIN}:2379`, ['get', 'catalog/sku-1042', '--print-value-only'])).trim(), 'blue widget');
  const fe = (await podNames('storefront', 'frontend'))[0]!;
  const viaName = await k(['exec', '-n', 'storefront', fe, '-c', 'log-shipper', '--', 'timeout', '10', 'wget', '-qO-', `http://etcd-0.${ETCD_DOMAIN}:2379/version`]);
  t.regex(viaName, /"etcdserver":"3\.4\.\d+"/);
  // Each member keeps its data on its own claim from the volumeClaimTemplate.
  const claims = await k(['get', 'pvc', '-n', 'catalog', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}']);
  t.is(claims.trim().split(' ').sort().join(' '), 'data-etcd-0=Bound data-etcd-1=Bound data-etcd-2=Bound');
});

test.serial('video processing: the transcode Job completes with its output; the nightly CronJob is scheduled', async (t) => {
  t.timeout(Math.min(60_000, left()));
  t.regex(await k(['wait', '-n', 'media', '--for=condition=complete', 'job/transcode-trailer', '--timeout=45s'], 50_000), /condition met/);
  const logs = await waitFor('the Job pod\'s output', 10_000, async () => {
    const l = await k(['logs', '-n', 'media', 'job/transcode-trailer']);
    return l.includes('480p') ? l : undefined;
  });
  t.is(logs, 'transcoded trailer.mp4 to 1080p\ntranscoded trailer.mp4 to 720p\ntranscoded trailer.mp4 to 480p\n');
  t.regex(await k(['get', 'cronjob', '-n', 'media']), /^nightly-reencode\s+0 3 \* \* \*\s+Etc\/UTC\s+False\s+0\s+<none>\s+/m);
});

test.serial('the cart HorizontalPodAutoscaler reads the cart pods\' CPU from the metrics API', async (t) => {
  t.timeout(left());
  const hpa = await waitFor('the HPA to read CPU metrics', left() - 2_000, async () => {
    const h = await getJson<HorizontalPodAutoscaler>(['hpa', '-n', 'storefront', 'cart']);
    return h.status?.currentMetrics?.[0]?.resource?.current?.averageUtilization !== undefined ? h : undefined;
  }, 1000);
  t.is(hpa.status?.conditions?.find((c) => c.type === 'ScalingActive')?.status, 'True');
  t.is(hpa.status?.currentReplicas, 2);
  const table = await k(['get', 'hpa', '-n', 'storefront', 'cart']);
  t.log(table.trim());
  t.regex(table, /^cart\s+Deployment\/cart\s+cpu: \d+%\/70%\s+2\s+5\s+2\s+/m);
});
