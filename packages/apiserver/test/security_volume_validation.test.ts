// Issue 10, hole 7 (API side): file modes of secret, configMap, downwardAPI and
// projected volumes are range-checked (0..0777), item paths and subPaths must
// stay inside the volume, as upstream validates them: 422 Invalid with
// upstream's field path and message over REST (create, and a patch of a
// Deployment's template) and gRPC, and nothing is written; valid modes pass.
import * as grpc from '@grpc/grpc-js';
import type { JsonObject } from '@mkube/api';
import test, { type ExecutionContext } from 'ava';
import { ResourcesClient, type GrpcApiError } from '../src/grpc/client.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

let fx: Fixture;
let admin: ResourcesClient;

test.before(async () => {
  fx = await startFixture();
  const s = fx.server;
  admin = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey });
});
test.after.always(async () => {
  admin?.close();
  await fx?.stop();
});

const MODE_MSG = 'must be a number between 0 and 0777 (octal), both inclusive';
const PODS = '/api/v1/namespaces/default/pods';

interface Cause {
  field: string;
  message: string;
  reason: string;
}

function pod(name: string, volumes: unknown[], mounts: unknown[] = []): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'busybox', volumeMounts: mounts }], volumes },
  } as JsonObject;
}

/** A 422 Invalid whose causes include exactly `field` with `message`. */
function isInvalid(t: ExecutionContext, r: Reply, field: string, message: string, what: string): void {
  t.is(r.status, 422, `${what}: ${r.text}`);
  t.like(r.body, { kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422 }, what);
  const causes = (r.body?.details?.causes ?? []) as Cause[];
  t.true(
    causes.some((c) => c.field === field && c.message === message),
    `${what}: expected a cause on ${field} saying "${message}", got ${JSON.stringify(causes)}`,
  );
}

test('a pod whose secret defaultMode is 4096 gets 422 with upstream field path and message, and is not stored', async (t) => {
  const r = await api(fx.server, 'POST', PODS, pod('bad-mode', [{ name: 's', secret: { secretName: 's', defaultMode: 4096 } }]));
  isInvalid(t, r, 'spec.volumes[0].secret.defaultMode', `Invalid value: 4096: ${MODE_MSG}`, 'defaultMode 4096');
  t.is(r.body.message, `Pod "bad-mode" is invalid: spec.volumes[0].secret.defaultMode: Invalid value: 4096: ${MODE_MSG}`);
  t.is((await api(fx.server, 'GET', `${PODS}/bad-mode`)).status, 404);
});

test('an item path ../x (and other escapes) gets 422 with upstream messages', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['../x', "Invalid value: \"../x\": must not contain '..'", 'configMap'],
    ['a/../../x', "Invalid value: \"a/../../x\": must not contain '..'", 'secret'],
    ['/etc/passwd', 'Invalid value: "/etc/passwd": must be a relative path', 'configMap'],
    ['..data', "Invalid value: \"..data\": must not start with '..'", 'secret'],
    ['', 'Required value', 'configMap'],
  ];
  for (const [i, [path, message, kind]] of cases.entries()) {
    const source = kind === 'secret' ? { secret: { secretName: 's', items: [{ key: 'k', path }] } } : { configMap: { name: 'c', items: [{ key: 'k', path }] } };
    const r = await api(fx.server, 'POST', PODS, pod(`bad-path-${i}`, [{ name: 'v', ...source }]));
    isInvalid(t, r, `spec.volumes[0].${kind}.items[0].path`, message, `path ${JSON.stringify(path)}`);
    t.is((await api(fx.server, 'GET', `${PODS}/bad-path-${i}`)).status, 404);
  }
});

test('item modes, configMap/downwardAPI/projected modes: out of range is 422 on each upstream field path', async (t) => {
  const cases: Array<[unknown, string, unknown]> = [
    [{ configMap: { name: 'c', defaultMode: 512 } }, 'spec.volumes[0].configMap.defaultMode', 512],
    [{ configMap: { name: 'c', items: [{ key: 'k', path: 'p', mode: -1 }] } }, 'spec.volumes[0].configMap.items[0].mode', -1],
    [{ secret: { secretName: 's', items: [{ key: 'k', path: 'p', mode: 0o4755 }] } }, 'spec.volumes[0].secret.items[0].mode', 0o4755],
    [{ downwardAPI: { defaultMode: 1000 } }, 'spec.volumes[0].downwardAPI.defaultMode', 1000],
    // Upstream reports downwardAPI items at the source's path, without an index.
    [{ downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' }, mode: 0o1777 }] } }, 'spec.volumes[0].downwardAPI.mode', 0o1777],
    [{ projected: { defaultMode: 4096, sources: [] } }, 'spec.volumes[0].projected.defaultMode', 4096],
    [{ projected: { sources: [{ secret: { name: 's', items: [{ key: 'k', path: 'p', mode: 2048 }] } }] } }, 'spec.volumes[0].projected.sources[0].secret.items[0].mode', 2048],
    [{ projected: { sources: [{ downwardAPI: { items: [{ path: 'n', fieldRef: { fieldPath: 'metadata.name' }, mode: 999 }] } }] } }, 'spec.volumes[0].projected.sources[0].downwardAPI.mode', 999],
  ];
  for (const [i, [source, field, value]] of cases.entries()) {
    const r = await api(fx.server, 'POST', PODS, pod(`bad-m-${i}`, [{ name: 'v', ...(source as object) }]));
    isInvalid(t, r, field, `Invalid value: ${String(value)}: ${MODE_MSG}`, field);
  }
  const dup = await api(fx.server, 'POST', PODS, pod('bad-dup', [{ name: 'v', projected: { sources: [{ configMap: { name: 'c', items: [{ key: 'a', path: 'same' }] } }, { secret: { name: 's', items: [{ key: 'b', path: 'same' }] } }] } }]));
  isInvalid(t, dup, 'spec.volumes[0].projected', 'Invalid value: "s": conflicting duplicate paths', 'duplicate projected path');
});

test('subPath and subPathExpr must stay in the volume; valid modes (0, 0400, 0777) are accepted', async (t) => {
  const vol = [{ name: 'v', emptyDir: {} }];
  let r = await api(fx.server, 'POST', PODS, pod('bad-sub', vol, [{ name: 'v', mountPath: '/x', subPath: '../../etc' }]));
  isInvalid(t, r, 'spec.containers[0].volumeMounts[0].subPath', "Invalid value: \"../../etc\": must not contain '..'", 'subPath');
  r = await api(fx.server, 'POST', PODS, pod('bad-sub2', vol, [{ name: 'v', mountPath: '/x', subPath: '/etc' }]));
  isInvalid(t, r, 'spec.containers[0].volumeMounts[0].subPath', 'Invalid value: "/etc": must be a relative path', 'absolute subPath');
  r = await api(fx.server, 'POST', PODS, pod('bad-sub3', vol, [{ name: 'v', mountPath: '/x', subPathExpr: '$(POD)/../..' }]));
  isInvalid(t, r, 'spec.containers[0].volumeMounts[0].subPathExpr', "Invalid value: \"$(POD)/../..\": must not contain '..'", 'subPathExpr');
  r = await api(fx.server, 'POST', PODS, pod('bad-sub4', vol, [{ name: 'v', mountPath: '/x', subPath: 'a', subPathExpr: 'b' }]));
  isInvalid(t, r, 'spec.containers[0].volumeMounts[0].subPathExpr', 'Invalid value: "b": subPathExpr and subPath are mutually exclusive', 'both');

  const good = await api(
    fx.server,
    'POST',
    PODS,
    pod(
      'good-modes',
      [
        { name: 'a', secret: { secretName: 's', defaultMode: 0o400, items: [{ key: 'k', path: 'dir/file', mode: 0 }] } },
        { name: 'b', configMap: { name: 'c', defaultMode: 0o777 } },
        { name: 'e', emptyDir: {} },
      ],
      [{ name: 'e', mountPath: '/logs', subPathExpr: 'logs/$(POD_NAME)' }],
    ),
  );
  t.is(good.status, 201, good.text);
  t.is(good.body.spec.volumes[0].secret.defaultMode, 0o400);
});

test('a Deployment template is checked too, on create and on a patch that would break it (nothing changes)', async (t) => {
  const path = '/apis/apps/v1/namespaces/default/deployments';
  const dep = (defaultMode: number) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }], volumes: [{ name: 's', secret: { secretName: 's', defaultMode } }] } },
    },
  });
  const bad = await api(fx.server, 'POST', path, dep(4096));
  isInvalid(t, bad, 'spec.template.spec.volumes[0].secret.defaultMode', `Invalid value: 4096: ${MODE_MSG}`, 'deployment create');
  const ok = await api(fx.server, 'POST', path, dep(0o440));
  t.is(ok.status, 201, ok.text);
  const patch = { spec: { template: { spec: { volumes: [{ name: 's', secret: { secretName: 's', defaultMode: 4096 } }] } } } };
  const p = await api(fx.server, 'PATCH', `${path}/web`, patch, { contentType: 'application/strategic-merge-patch+json' });
  isInvalid(t, p, 'spec.template.spec.volumes[0].secret.defaultMode', `Invalid value: 4096: ${MODE_MSG}`, 'deployment patch');
  const after = await api(fx.server, 'GET', `${path}/web`);
  t.is(after.body.spec.template.spec.volumes[0].secret.defaultMode, 0o440);
  t.is(after.body.metadata.resourceVersion, ok.body.metadata.resourceVersion);
});

test('over gRPC: a pod with a bad defaultMode or item path is INVALID_ARGUMENT (422) with the same causes, and not stored', async (t) => {
  const ref = { resource: 'pods', namespace: 'default' };
  const failure = async (p: Promise<unknown>): Promise<GrpcApiError> => {
    try {
      await p;
    } catch (err) {
      return err as GrpcApiError;
    }
    throw new Error('the call succeeded');
  };
  const e = await failure(admin.create(ref, pod('grpc-bad', [{ name: 's', secret: { secretName: 's', defaultMode: 4096, items: [{ key: 'k', path: '../x' }] } }])));
  t.is(e.code, grpc.status.INVALID_ARGUMENT);
  t.like(e.status, { kind: 'Status', reason: 'Invalid', code: 422 });
  const causes = ((e.status?.details as { causes?: Cause[] } | undefined)?.causes ?? []).map((c) => `${c.field}: ${c.message}`);
  t.true(causes.includes(`spec.volumes[0].secret.defaultMode: Invalid value: 4096: ${MODE_MSG}`), JSON.stringify(causes));
  t.true(causes.includes("spec.volumes[0].secret.items[0].path: Invalid value: \"../x\": must not contain '..'"), JSON.stringify(causes));
  t.is((await failure(admin.get(ref, 'grpc-bad'))).code, grpc.status.NOT_FOUND);
});
