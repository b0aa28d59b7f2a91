// Query parameters read as upstream's parameter codec does (apimachinery runtime/conversion.go):
// a boolean is false only for "false"/"0" in any case (so the Python client's watch=True is a watch),
// integers are Go's strconv.ParseInt (400 BadRequest with its message), and the options' enumerations
// (resourceVersionMatch, fieldValidation, propagationPolicy, dryRun) are 422 Invalid on the options kind
// with upstream's field paths and supported values. Never a 500.
import test from 'ava';
import { request } from 'node:https';
import { parseInt64, queryBool } from '../src/http/query.js';
import { api, startFixture, watchEvents, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } });

test('booleans: only false and 0 (any case) are false; an absent parameter is undefined', (t) => {
  for (const v of ['1', 't', 'T', 'TRUE', 'true', 'True', 'yes', '']) t.true(queryBool(new URLSearchParams({ watch: v }), 'watch'), v);
  for (const v of ['0', 'false', 'False', 'FALSE', 'fAlSe']) t.false(queryBool(new URLSearchParams({ watch: v }), 'watch'), v);
  t.is(queryBool(new URLSearchParams(), 'watch'), undefined);
});

test('integers: strconv.ParseInt base 10, 64 bits, with its messages', (t) => {
  t.is(parseInt64('30'), 30);
  t.is(parseInt64('+7'), 7);
  t.is(parseInt64('-5'), -5);
  t.throws(() => parseInt64('abc'), { message: 'strconv.ParseInt: parsing "abc": invalid syntax' });
  t.throws(() => parseInt64('1.5'), { message: 'strconv.ParseInt: parsing "1.5": invalid syntax' });
  t.throws(() => parseInt64(''), { message: 'strconv.ParseInt: parsing "": invalid syntax' });
  t.throws(() => parseInt64('0x10'), { message: 'strconv.ParseInt: parsing "0x10": invalid syntax' });
  t.throws(() => parseInt64('9223372036854775808'), { message: 'strconv.ParseInt: parsing "9223372036854775808": value out of range' });
});

/** A watch request's first bytes: the status and the Content-Type of the answer (a list is one JSON object, a watch a stream). */
function firstResponse(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = fx.server;
    const req = request(new URL(path, s.url), { ca: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey, headers: { Accept: 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test.serial('watch=True and watch=1 are watches; watch=False and watch=0 are lists', async (t) => {
  t.is((await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps', cm('q-watch'))).status, 201);
  for (const v of ['True', '1', 't', 'TRUE']) {
    const events = await watchEvents(fx.server, `/api/v1/namespaces/default/configmaps?watch=${v}&timeoutSeconds=1`, (evs) => evs.some((e) => e.object?.metadata?.name === 'q-watch'));
    t.true(events.length > 0, v);
    t.is(events[0].type, 'ADDED', v);
  }
  for (const v of ['False', '0', 'false']) {
    const list = await api(fx.server, 'GET', `/api/v1/namespaces/default/configmaps?watch=${v}`);
    t.is(list.status, 200);
    t.is(list.body.kind, 'ConfigMapList', v);
  }
});

test.serial('timeoutSeconds ends a watch; a malformed one is 400 with strconv\'s message', async (t) => {
  const started = Date.now();
  const r = await firstResponse('/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=0');
  t.is(r.status, 200);
  t.true(Date.now() - started < 10_000);
  for (const [param, value] of [['timeoutSeconds', 'soon'], ['limit', 'ten'], ['limit', '1e3'], ['timeoutSeconds', '99999999999999999999']] as const) {
    for (const watch of ['', '&watch=true']) {
      const bad = await api(fx.server, 'GET', `/api/v1/namespaces/default/configmaps?${param}=${value}${watch}`);
      t.is(bad.status, 400, `${param}=${value}${watch}`);
      t.is(bad.body.kind, 'Status');
      t.is(bad.body.reason, 'BadRequest');
      const why = /^[0-9]+$/.test(value) ? 'value out of range' : 'invalid syntax';
      t.is(bad.body.message, `strconv.ParseInt: parsing "${value}": ${why}`);
    }
  }
});

test.serial('limit pages a list; limit=0 and a negative limit list everything', async (t) => {
  for (const n of ['q-a', 'q-b', 'q-c']) await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps', cm(n));
  const page = await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps?limit=2');
  t.is(page.status, 200);
  t.is(page.body.items.length, 2);
  t.truthy(page.body.metadata.continue);
  const all = await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps?limit=0');
  t.true(all.body.items.length >= 3);
  t.falsy(all.body.metadata.continue);
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps?limit=-1')).status, 200);
});

test.serial('resourceVersionMatch: validated as upstream\'s ValidateListOptions (422 ListOptions.meta.k8s.io)', async (t) => {
  const cases: [string, string][] = [
    ['resourceVersion=1&resourceVersionMatch=Newest', 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'],
    ['resourceVersionMatch=NotOlderThan', 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided'],
    ['resourceVersion=0&resourceVersionMatch=Exact', 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'],
    ['watch=1&resourceVersion=0&resourceVersionMatch=NotOlderThan', 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch'],
    ['sendInitialEvents=true', 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list'],
  ];
  for (const [query, message] of cases) {
    const r = await api(fx.server, 'GET', `/api/v1/namespaces/default/configmaps?${query}`);
    t.is(r.status, 422, query);
    t.is(r.body.reason, 'Invalid');
    t.is(r.body.message, message);
    t.is(r.body.details.group, 'meta.k8s.io');
    t.is(r.body.details.kind, 'ListOptions');
  }
  const ok = await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps?resourceVersion=0&resourceVersionMatch=NotOlderThan');
  t.is(ok.status, 200);
});

test.serial('fieldValidation, dryRun and force: 422 on the write options kind with upstream\'s messages', async (t) => {
  const bad = await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Loud', cm('q-fv'));
  t.is(bad.status, 422);
  t.is(bad.body.message, 'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loud": supported values: "", "Ignore", "Strict", "Warn"');
  t.deepEqual(bad.body.details, { group: 'meta.k8s.io', kind: 'CreateOptions', causes: [{ reason: 'FieldValueNotSupported', message: 'Unsupported value: "Loud": supported values: "", "Ignore", "Strict", "Warn"', field: 'fieldValidation' }] });
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps/q-fv')).status, 404);

  const dry = await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps?dryRun=Yes', cm('q-dry'));
  t.is(dry.status, 422);
  t.is(dry.body.message, 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Yes"}: supported values: "All"');
  const dryOk = await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps?dryRun=All', cm('q-dry'));
  t.is(dryOk.status, 201);
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps/q-dry')).status, 404);

  t.is((await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps', cm('q-upd'))).status, 201);
  const put = await api(fx.server, 'PUT', '/api/v1/namespaces/default/configmaps/q-upd?fieldValidation=strict', cm('q-upd'));
  t.is(put.status, 422);
  t.regex(put.body.message, /^UpdateOptions\.meta\.k8s\.io "" is invalid: fieldValidation: Unsupported value: "strict"/);

  const force = await api(fx.server, 'PATCH', '/api/v1/namespaces/default/configmaps/q-upd?force=true', { data: { b: '2' } }, { contentType: 'application/merge-patch+json' });
  t.is(force.status, 422);
  t.is(force.body.message, 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch');
  const apply = await api(fx.server, 'PATCH', '/api/v1/namespaces/default/configmaps/q-upd?force=True&fieldManager=py', JSON.stringify(cm('q-upd')), { contentType: 'application/apply-patch+yaml' });
  t.is(apply.status, 200);
});

test.serial('DeleteOptions from the query: gracePeriodSeconds parsed as an integer, propagationPolicy and dryRun validated', async (t) => {
  t.is((await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps', cm('q-del'))).status, 201);
  const grace = await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/q-del?gracePeriodSeconds=later');
  t.is(grace.status, 400);
  t.is(grace.body.message, 'strconv.ParseInt: parsing "later": invalid syntax');
  const policy = await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/q-del?propagationPolicy=Sideways');
  t.is(policy.status, 422);
  t.is(policy.body.message, 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan", "nil"');
  const dry = await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/q-del?dryRun=Please');
  t.is(dry.status, 422);
  t.is(dry.body.message, 'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Please"}: supported values: "All"');
  const both = await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/q-del?propagationPolicy=Orphan', { kind: 'DeleteOptions', apiVersion: 'v1', orphanDependents: false });
  t.is(both.status, 422);
  t.is(both.body.message, 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set');
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps/q-del')).status, 200);
  t.is((await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/q-del?gracePeriodSeconds=0&dryRun=All')).status, 200);
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps/q-del')).status, 200);
  t.is((await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/q-del?gracePeriodSeconds=0')).status, 200);
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps/q-del')).status, 404);
});
