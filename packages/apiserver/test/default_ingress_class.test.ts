// The DefaultIngressClass admission plugin on a real API server over HTTPS (etcd or the embedded
// store): an Ingress created without spec.ingressClassName gets the IngressClass annotated
// ingressclass.kubernetes.io/is-default-class "true"; none marked default leaves it without a
// class; an explicit class or the old kubernetes.io/ingress.class annotation is kept as is; of
// several defaults the newest wins (then the name, as upstream's getDefaultClass sorts); updates are
// never defaulted; kubectl's CLASS column shows the written class.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { defaultIngressClassOf, type IngressClass } from '@mkube/api';
import { waitFor } from '@mkube/testing';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const run = promisify(execFile);
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const CLASSES = '/apis/networking.k8s.io/v1/ingressclasses';
const INGRESSES = '/apis/networking.k8s.io/v1/namespaces/default/ingresses';
const DEFAULT = 'ingressclass.kubernetes.io/is-default-class';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const ingressClass = (name: string, isDefault: boolean) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'IngressClass',
  metadata: { name, ...(isDefault ? { annotations: { [DEFAULT]: 'true' } } : {}) },
  spec: { controller: `example.com/${name}` },
});
const ingress = (name: string, extra: { className?: string; annotations?: Record<string, string> } = {}) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
  spec: { ...(extra.className ? { ingressClassName: extra.className } : {}), defaultBackend: { service: { name: 'web', port: { number: 80 } } } },
});

/** The class a dry-run create would get now (the plugin reads IngressClasses from the watch cache, as upstream from an informer). */
const dryRunClass = async () => {
  const r = await api(fx.server, 'POST', `${INGRESSES}?dryRun=All`, ingress('probe'));
  return (r.body as { spec?: { ingressClassName?: string } }).spec?.ingressClassName;
};

test.serial('no default IngressClass: the Ingress keeps no class; one default: an Ingress without a class gets it, explicit classes and the old annotation are kept', async (t) => {
  t.is((await api(fx.server, 'POST', CLASSES, ingressClass('plain', false))).status, 201);
  const none = await api(fx.server, 'POST', INGRESSES, ingress('before-default'));
  t.is(none.status, 201, none.text);
  t.is((none.body as { spec: { ingressClassName?: string } }).spec.ingressClassName, undefined);

  const created = await api(fx.server, 'POST', CLASSES, ingressClass('alpha', true));
  t.is(created.status, 201, created.text);
  await waitFor('the admission to see class alpha', 10_000, async () => ((await dryRunClass()) === 'alpha' ? true : undefined));

  const defaulted = await api(fx.server, 'POST', INGRESSES, ingress('gets-default'));
  t.is(defaulted.status, 201, defaulted.text);
  t.is((defaulted.body as { spec: { ingressClassName?: string } }).spec.ingressClassName, 'alpha');
  t.is(((await api(fx.server, 'GET', `${INGRESSES}/gets-default`)).body as { spec: { ingressClassName?: string } }).spec.ingressClassName, 'alpha', 'stored with the class');

  const explicit = await api(fx.server, 'POST', INGRESSES, ingress('explicit', { className: 'plain' }));
  t.is((explicit.body as { spec: { ingressClassName?: string } }).spec.ingressClassName, 'plain');
  // The deprecated annotation still selects a class: no spec.ingressClassName is written beside it.
  const annotated = await api(fx.server, 'POST', INGRESSES, ingress('annotated', { annotations: { 'kubernetes.io/ingress.class': 'nginx' } }));
  t.is(annotated.status, 201, annotated.text);
  t.is((annotated.body as { spec: { ingressClassName?: string } }).spec.ingressClassName, undefined);

  // kubectl shows it in the CLASS column.
  const { stdout } = await run(KUBECTL, ['--kubeconfig', fx.server.kubeconfigPath, 'get', 'ingress', 'gets-default', 'before-default'], { timeout: 30_000 });
  t.regex(stdout, /^gets-default\s+alpha\s+\*\s+/m);
  t.regex(stdout, /^before-default\s+<none>\s+\*\s+/m);
});

test.serial('an update is never defaulted: an Ingress stored without a class keeps none', async (t) => {
  const cur = (await api(fx.server, 'GET', `${INGRESSES}/before-default`)).body as { metadata: { labels?: Record<string, string> }; spec: { ingressClassName?: string } };
  cur.metadata.labels = { touched: 'yes' };
  const updated = await api(fx.server, 'PUT', `${INGRESSES}/before-default`, cur);
  t.is(updated.status, 200, updated.text);
  t.is((updated.body as { spec: { ingressClassName?: string } }).spec.ingressClassName, undefined);
});

test.serial('several default IngressClasses: the newest is written (upstream picks the newest, not the first by name)', async (t) => {
  const alpha = (await api(fx.server, 'GET', `${CLASSES}/alpha`)).body as IngressClass;
  // creationTimestamp has whole seconds: wait until the clock is past alpha's second, so zeta is newer.
  await waitFor('a later second than alpha was created in', 3_000, () => (new Date().toISOString().replace(/\.\d+Z$/, 'Z') > alpha.metadata!.creationTimestamp! ? true : undefined));
  t.is((await api(fx.server, 'POST', CLASSES, ingressClass('zeta', true))).status, 201);
  await waitFor('the admission to see class zeta', 10_000, async () => ((await dryRunClass()) === 'zeta' ? true : undefined));
  const r = await api(fx.server, 'POST', INGRESSES, ingress('two-defaults'));
  t.is(r.status, 201, r.text);
  t.is((r.body as { spec: { ingressClassName?: string } }).spec.ingressClassName, 'zeta');
  // zeta no longer default: alpha again.
  const zeta = (await api(fx.server, 'GET', `${CLASSES}/zeta`)).body as IngressClass;
  zeta.metadata!.annotations = { [DEFAULT]: 'false' };
  t.is((await api(fx.server, 'PUT', `${CLASSES}/zeta`, zeta)).status, 200);
  await waitFor('the admission to see zeta not default', 10_000, async () => ((await dryRunClass()) === 'alpha' ? true : undefined));
  t.is(((await api(fx.server, 'POST', INGRESSES, ingress('back-to-alpha'))).body as { spec: { ingressClassName?: string } }).spec.ingressClassName, 'alpha');
});

test('defaultIngressClassOf: the newest default, the name first on a tie, only "true" counts', (t) => {
  const c = (name: string, ts: string, value = 'true'): IngressClass => ({ metadata: { name, creationTimestamp: ts, annotations: { [DEFAULT]: value } } });
  t.is(defaultIngressClassOf([c('b', '2026-01-01T00:00:00Z'), c('a', '2026-01-01T00:00:00Z')])?.metadata?.name, 'a');
  t.is(defaultIngressClassOf([c('a', '2026-01-01T00:00:00Z'), c('b', '2026-01-01T00:00:01Z')])?.metadata?.name, 'b');
  t.is(defaultIngressClassOf([c('a', '2026-01-01T00:00:00Z', 'True'), c('b', '2026-01-01T00:00:01Z', 'false')]), undefined);
  t.is(defaultIngressClassOf([]), undefined);
});
