// policy/v1 PodDisruptionBudgets served (validation, generation, table columns, discovery of
// pods/eviction) and the eviction subresource against a real etcd and API server over HTTPS:
// a budget with no disruption left refuses with upstream's 429, a budget that allows one takes it
// (disruptionsAllowed decremented, disruptedPods recorded) and the pod gets DisruptionTarget and is
// deleted; a pod without a budget, a pending pod and a terminating pod are deleted at once.
import test from 'ava';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const NS = '/api/v1/namespaces/default';
const PDBS = '/apis/policy/v1/namespaces/default/poddisruptionbudgets';

async function runningPod(name: string, labels: Record<string, string>, ready = true): Promise<void> {
  const created = await api(fx.server, 'POST', `${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'nginx' }] } });
  if (created.status !== 201) throw new Error(created.text);
  const st = await api(fx.server, 'PUT', `${NS}/pods/${name}/status`, {
    ...created.body,
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  if (st.status !== 200) throw new Error(st.text);
}

const eviction = (name: string, deleteOptions?: object) => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'default' }, ...(deleteOptions ? { deleteOptions } : {}) });

async function setPdbStatus(name: string, status: object): Promise<void> {
  const cur = await api(fx.server, 'GET', `${PDBS}/${name}`);
  const r = await api(fx.server, 'PUT', `${PDBS}/${name}/status`, { ...cur.body, status: { observedGeneration: cur.body.metadata.generation, ...status } });
  if (r.status !== 200) throw new Error(r.text);
}

test.serial('PodDisruptionBudget: validation as upstream, generation, table columns', async (t) => {
  const both = await api(fx.server, 'POST', PDBS, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'both' }, spec: { minAvailable: 1, maxUnavailable: 1, selector: { matchLabels: { a: 'b' } } } });
  t.is(both.status, 422);
  t.regex(both.body.message, /spec: Invalid value: .*minAvailable and maxUnavailable cannot be both set/);
  const pct = await api(fx.server, 'POST', PDBS, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'pct' }, spec: { minAvailable: '120%' } });
  t.is(pct.status, 422);
  t.regex(pct.body.message, /spec.minAvailable: Invalid value: "120%": must not be greater than 100%/);
  const policy = await api(fx.server, 'POST', PDBS, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'pol' }, spec: { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'Sometimes' } });
  t.is(policy.status, 422);
  t.regex(policy.body.message, /spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget"/);

  const ok = await api(fx.server, 'POST', PDBS, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'cols' }, spec: { minAvailable: '50%', selector: { matchLabels: { app: 'cols' } } } });
  t.is(ok.status, 201, ok.text);
  t.is(ok.body.metadata.generation, 1);
  t.deepEqual(ok.body.status, { currentHealthy: 0, desiredHealthy: 0, disruptionsAllowed: 0, expectedPods: 0 });
  const table = await api(fx.server, 'GET', `${PDBS}/cols`, undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
  t.deepEqual(table.body.columnDefinitions.map((c: { name: string }) => c.name), ['Name', 'Min Available', 'Max Unavailable', 'Allowed Disruptions', 'Age']);
  t.deepEqual(table.body.rows[0].cells.slice(0, 4), ['cols', '50%', 'N/A', 0]);
  const bumped = await api(fx.server, 'PUT', `${PDBS}/cols`, { ...ok.body, spec: { ...ok.body.spec, minAvailable: 2 } });
  t.is(bumped.body.metadata.generation, 2);
  await api(fx.server, 'DELETE', `${PDBS}/cols`);
});

test.serial('discovery lists pods/eviction as policy/v1 Eviction (what kubectl drain looks for)', async (t) => {
  const list = await api(fx.server, 'GET', '/api/v1');
  const ev = list.body.resources.find((r: { name: string }) => r.name === 'pods/eviction');
  t.like(ev, { kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] });
  const pol = await api(fx.server, 'GET', '/apis/policy/v1');
  t.truthy(pol.body.resources.find((r: { name: string }) => r.name === 'poddisruptionbudgets'));
});

test.serial('eviction refused with 429 and the DisruptionBudget cause when no disruption is allowed; taken when one is', async (t) => {
  await runningPod('web-a', { app: 'web' });
  await runningPod('web-b', { app: 'web' });
  const created = await api(fx.server, 'POST', PDBS, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } });
  t.is(created.status, 201);

  // Not yet observed by the controller: 429, retry after 10 s.
  const early = await api(fx.server, 'POST', `${NS}/pods/web-a/eviction`, eviction('web-a'));
  t.is(early.status, 429);
  t.is(early.headers['retry-after'], '10');
  t.deepEqual(early.body.details.causes, [{ reason: 'DisruptionBudget', message: 'The disruption budget web is still being processed by the server.' }]);

  await setPdbStatus('web', { currentHealthy: 2, desiredHealthy: 2, expectedPods: 2, disruptionsAllowed: 0 });
  const refused = await api(fx.server, 'POST', `${NS}/pods/web-a/eviction`, eviction('web-a'));
  t.is(refused.status, 429);
  t.is(refused.headers['retry-after'], undefined);
  t.like(refused.body, { kind: 'Status', status: 'Failure', reason: 'TooManyRequests', code: 429, message: "Cannot evict pod as it would violate the pod's disruption budget." });
  t.deepEqual(refused.body.details.causes, [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }]);
  t.is((await api(fx.server, 'GET', `${NS}/pods/web-a`)).status, 200);

  await setPdbStatus('web', { currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, disruptionsAllowed: 1 });
  const taken = await api(fx.server, 'POST', `${NS}/pods/web-a/eviction`, eviction('web-a', { gracePeriodSeconds: 0 }));
  t.is(taken.status, 201, taken.text);
  t.like(taken.body, { kind: 'Status', status: 'Success' });
  t.is((await api(fx.server, 'GET', `${NS}/pods/web-a`)).status, 404);
  const pdb = (await api(fx.server, 'GET', `${PDBS}/web`)).body;
  t.is(pdb.status.disruptionsAllowed, 0);
  t.deepEqual(Object.keys(pdb.status.disruptedPods), ['web-a']);
  t.like(pdb.status.conditions.find((c: { type: string }) => c.type === 'DisruptionAllowed'), { status: 'False', reason: 'InsufficientPods' });

  // The budget is spent: the next one is refused.
  const next = await api(fx.server, 'POST', `${NS}/pods/web-b/eviction`, eviction('web-b'));
  t.is(next.status, 429);

  // With a grace period the pod stays Terminating, carrying DisruptionTarget; evicting it again deletes it regardless of the budget.
  await setPdbStatus('web', { currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, disruptionsAllowed: 1, disruptedPods: {} });
  t.is((await api(fx.server, 'POST', `${NS}/pods/web-b/eviction`, eviction('web-b'))).status, 201);
  const terminating = (await api(fx.server, 'GET', `${NS}/pods/web-b`)).body;
  t.truthy(terminating.metadata.deletionTimestamp);
  t.like(terminating.status.conditions.find((c: { type: string }) => c.type === 'DisruptionTarget'), { status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting' });
  t.is((await api(fx.server, 'POST', `${NS}/pods/web-b/eviction`, eviction('web-b', { gracePeriodSeconds: 0 }))).status, 201);
  t.is((await api(fx.server, 'GET', `${NS}/pods/web-b`)).status, 404);
  await api(fx.server, 'DELETE', `${PDBS}/web`);
});

test.serial('a pod without a budget and a pending pod are deleted; the name must match; two budgets are a 500', async (t) => {
  await runningPod('lone', { app: 'lone' });
  const mismatch = await api(fx.server, 'POST', `${NS}/pods/lone/eviction`, eviction('other'));
  t.is(mismatch.status, 400);
  t.is(mismatch.body.message, 'name in URL does not match name in Eviction object');
  t.is((await api(fx.server, 'POST', `${NS}/pods/lone/eviction`, eviction('lone', { gracePeriodSeconds: 0 }))).status, 201);
  t.is((await api(fx.server, 'GET', `${NS}/pods/lone`)).status, 404);

  const pending = await api(fx.server, 'POST', `${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pend', labels: { app: 'two' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
  t.is(pending.status, 201);
  for (const n of ['two-a', 'two-b']) {
    await api(fx.server, 'POST', PDBS, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: n }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'two' } } } });
  }
  t.is((await api(fx.server, 'POST', `${NS}/pods/pend/eviction`, eviction('pend'))).status, 201);
  t.is((await api(fx.server, 'GET', `${NS}/pods/pend`)).status, 404);

  await runningPod('two', { app: 'two' });
  const two = await api(fx.server, 'POST', `${NS}/pods/two/eviction`, eviction('two'));
  t.is(two.status, 500);
  t.is(two.body.message, 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
  t.is((await api(fx.server, 'POST', `${NS}/pods/missing/eviction`, eviction('missing'))).status, 404);
});

test.serial('eviction is authorized as create pods/eviction', async (t) => {
  await runningPod('guarded', { app: 'guarded' });
  const denied = await api(fx.server, 'POST', `${NS}/pods/guarded/eviction`, eviction('guarded'), { token: 'bob-token' });
  t.is(denied.status, 403);
  t.regex(denied.body.message, /cannot create resource "pods\/eviction"/);
});
