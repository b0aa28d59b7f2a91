// The routing rules of routes.ts against upstream's tables (Ingress API docs: "Examples" of path
// matching, "Hostname wildcards"), precedence across hosts and Ingresses, the default backend,
// endpoint resolution from EndpointSlices (ready only, the Service port's name), SNI choice and the
// TLS Secrets that cannot serve (their hosts get the default certificate).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointSlice, HTTPIngressPath, Ingress, Secret, Service } from '@mkube/api';
import { normalizeHost, RouteTable, wildcardMatches } from '../src/routes.js';

function svc(name: string, port = 80, portName = ''): Service {
  return { metadata: { namespace: 'default', name }, spec: { ports: [{ name: portName, port, protocol: 'TCP' }] } };
}
function slice(service: string, ips: string[], port = 8080, portName = '', notReady: string[] = []): EndpointSlice {
  return {
    metadata: { namespace: 'default', name: `${service}-abc`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: [...ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })), ...notReady.map((ip) => ({ addresses: [ip], conditions: { ready: false } }))],
  };
}
const path = (p: string, pathType: string, service: string): HTTPIngressPath => ({ path: p, pathType, backend: { service: { name: service, port: { number: 80 } } } });
function ingress(name: string, rules: { host?: string; paths: HTTPIngressPath[] }[], extra: Partial<NonNullable<Ingress['spec']>> = {}, created = '2024-01-01T00:00:00Z'): Ingress {
  return { metadata: { namespace: 'default', name, creationTimestamp: created }, spec: { ...extra, rules: rules.map((r) => ({ host: r.host, http: { paths: r.paths } })) } };
}

/** A table whose every path routes to the Service named like the path (s0, s1, ...). */
function tableOf(paths: [string, string][], services = paths.map((_p, i) => `s${i}`)): RouteTable {
  return new RouteTable({
    ingresses: [ingress('i', [{ paths: paths.map(([p, t], i) => path(p, t, services[i]!)) }])],
    services: services.map((s) => svc(s)),
    slices: services.map((s, i) => slice(s, [`10.0.0.${i + 1}`])),
    secrets: [],
  });
}

// Upstream's table: [kind, rule paths, request path, expected index of the matching rule or -1].
const UPSTREAM_PATH_TABLE: [string, [string, string][], string, number][] = [
  ['Prefix / matches all paths', [['/', 'Prefix']], '/anything/at/all', 0],
  ['Exact /foo matches /foo', [['/foo', 'Exact']], '/foo', 0],
  ['Exact /foo does not match /bar', [['/foo', 'Exact']], '/bar', -1],
  ['Exact /foo does not match /foo/', [['/foo', 'Exact']], '/foo/', -1],
  ['Exact /foo/ does not match /foo', [['/foo/', 'Exact']], '/foo', -1],
  ['Prefix /foo matches /foo', [['/foo', 'Prefix']], '/foo', 0],
  ['Prefix /foo matches /foo/', [['/foo', 'Prefix']], '/foo/', 0],
  ['Prefix /foo/ matches /foo', [['/foo/', 'Prefix']], '/foo', 0],
  ['Prefix /foo/ matches /foo/', [['/foo/', 'Prefix']], '/foo/', 0],
  ['Prefix /aaa/bb does not match /aaa/bbb', [['/aaa/bb', 'Prefix']], '/aaa/bbb', -1],
  ['Prefix /aaa/bbb matches /aaa/bbb', [['/aaa/bbb', 'Prefix']], '/aaa/bbb', 0],
  ['Prefix /aaa/bbb/ matches /aaa/bbb (trailing slash ignored)', [['/aaa/bbb/', 'Prefix']], '/aaa/bbb', 0],
  ['Prefix /aaa/bbb matches /aaa/bbb/ (trailing slash)', [['/aaa/bbb', 'Prefix']], '/aaa/bbb/', 0],
  ['Prefix /aaa/bbb matches /aaa/bbb/ccc (subpath)', [['/aaa/bbb', 'Prefix']], '/aaa/bbb/ccc', 0],
  ['Prefix /aaa/bbb does not match /aaa/bbbxyz (no string prefix)', [['/aaa/bbb', 'Prefix']], '/aaa/bbbxyz', -1],
  ['Prefix /, /aaa: /aaa/ccc matches /aaa', [['/', 'Prefix'], ['/aaa', 'Prefix']], '/aaa/ccc', 1],
  ['Prefix /, /aaa, /aaa/bbb: /aaa/bbb matches /aaa/bbb', [['/', 'Prefix'], ['/aaa', 'Prefix'], ['/aaa/bbb', 'Prefix']], '/aaa/bbb', 2],
  ['Prefix /, /aaa, /aaa/bbb: /ccc matches /', [['/', 'Prefix'], ['/aaa', 'Prefix'], ['/aaa/bbb', 'Prefix']], '/ccc', 0],
  ['Prefix /aaa does not match /ccc (default backend)', [['/aaa', 'Prefix']], '/ccc', -1],
  ['Mixed /foo Prefix and /foo Exact: /foo prefers Exact', [['/foo', 'Prefix'], ['/foo', 'Exact']], '/foo', 1],
  ['Mixed /foo Exact and /foo Prefix (other order): /foo prefers Exact', [['/foo', 'Exact'], ['/foo', 'Prefix']], '/foo', 0],
  ['ImplementationSpecific is treated as Prefix', [['/foo', 'ImplementationSpecific']], '/foo/bar', 0],
  ['the query string is not part of the path', [['/foo', 'Exact']], '/foo?x=/bar', 0],
];

for (const [title, paths, request, want] of UPSTREAM_PATH_TABLE) {
  test(`path matching: ${title}`, (t) => {
    const m = tableOf(paths).match('any.host', request);
    t.is(m ? Number(m.backend.name.slice('default/s'.length).split(':')[0]) : -1, want);
  });
}

test('hostname wildcards: one label only (upstream table)', (t) => {
  t.true(wildcardMatches('*.foo.com', 'bar.foo.com'));
  t.false(wildcardMatches('*.foo.com', 'baz.bar.foo.com'));
  t.false(wildcardMatches('*.foo.com', 'foo.com'));
  t.is(normalizeHost('Example.COM:8080'), 'example.com');
  t.is(normalizeHost('example.com.'), 'example.com');
  t.is(normalizeHost('[::1]:80'), '[::1]');
});

test('host precedence: exact host, then wildcard, then rules without host, then the oldest defaultBackend, else nothing', (t) => {
  const names = ['exact', 'wild', 'anyhost', 'def', 'def2'];
  const table = new RouteTable({
    ingresses: [
      ingress('b', [{ host: 'foo.example.com', paths: [path('/', 'Prefix', 'exact')] }, { host: '*.example.com', paths: [path('/', 'Prefix', 'wild')] }, { paths: [path('/any', 'Prefix', 'anyhost')] }], { defaultBackend: { service: { name: 'def', port: { number: 80 } } } }, '2024-01-01T00:00:00Z'),
      ingress('a', [], { defaultBackend: { service: { name: 'def2', port: { number: 80 } } } }, '2024-02-01T00:00:00Z'),
    ],
    services: names.map((n) => svc(n)),
    slices: names.map((n, i) => slice(n, [`10.0.1.${i + 1}`])),
    secrets: [],
  });
  t.is(table.match('foo.example.com', '/x')?.backend.name, 'default/exact:80');
  t.is(table.match('FOO.example.com:80', '/x')?.backend.name, 'default/exact:80');
  t.is(table.match('bar.example.com', '/x')?.backend.name, 'default/wild:80');
  t.is(table.match('a.bar.example.com', '/any/1')?.backend.name, 'default/anyhost:80');
  t.is(table.match('other.org', '/x')?.backend.name, 'default/def:80', 'the oldest Ingress with a defaultBackend');
  const bare = new RouteTable({ ingresses: [ingress('c', [{ host: 'x.org', paths: [path('/', 'Prefix', 'exact')] }])], services: [svc('exact')], slices: [], secrets: [] });
  t.is(bare.match('y.org', '/'), undefined, 'no rule and no defaultBackend: 404');
  t.deepEqual(bare.match('x.org', '/')?.backend.endpoints, [], 'no endpoints: 503 by the proxy');
});

test('equal paths in two Ingresses for one host: the older Ingress wins', (t) => {
  const table = new RouteTable({
    ingresses: [
      ingress('new', [{ host: 'h', paths: [path('/api', 'Prefix', 'b')] }], {}, '2024-03-01T00:00:00Z'),
      ingress('old', [{ host: 'h', paths: [path('/api', 'Prefix', 'a')] }], {}, '2024-01-01T00:00:00Z'),
    ],
    services: [svc('a'), svc('b')],
    slices: [slice('a', ['10.0.2.1']), slice('b', ['10.0.2.2'])],
    secrets: [],
  });
  t.is(table.match('h', '/api/v1')?.ingress, 'default/old');
});

test('endpoints: only ready ones, at the EndpointSlice port of the Service port (by name or number)', (t) => {
  const table = new RouteTable({
    ingresses: [ingress('i', [{ paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }, { path: '/n', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] }])],
    services: [svc('web', 80, 'http')],
    slices: [slice('web', ['10.0.3.1', '10.0.3.2'], 8080, 'http', ['10.0.3.9'])],
    secrets: [],
  });
  t.deepEqual(table.match('', '/')?.backend.endpoints, [{ ip: '10.0.3.1', port: 8080 }, { ip: '10.0.3.2', port: 8080 }]);
  t.deepEqual(table.match('', '/n')?.backend.endpoints.length, 2);
});

test('certificates: SNI exact host, wildcard host, else none (the default certificate); missing, incomplete, unparseable or mismatched Secrets are problems', (t) => {
  const pair = (cn: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'mkube-routes-test-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
      return { cert: readFileSync(join(dir, 'c'), 'utf8'), key: readFileSync(join(dir, 'k'), 'utf8') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const [a, w] = [pair('a.example.com'), pair('x.wild.org')];
  const secret = (name: string, crt: string | undefined, key: string | undefined): Secret => ({ metadata: { namespace: 'default', name }, type: 'kubernetes.io/tls', data: { ...(crt ? { 'tls.crt': Buffer.from(crt).toString('base64') } : {}), ...(key ? { 'tls.key': Buffer.from(key).toString('base64') } : {}) } });
  const table = new RouteTable({
    ingresses: [ingress('i', [], { tls: [
      { hosts: ['a.example.com'], secretName: 'a' }, { hosts: ['*.wild.org'], secretName: 'w' }, { hosts: ['m.org'], secretName: 'missing' },
      { hosts: ['n.org'], secretName: 'nokey' }, { hosts: ['g.org'], secretName: 'garbage' }, { hosts: ['x.org'], secretName: 'mismatch' },
    ] })],
    services: [],
    slices: [],
    secrets: [secret('a', a.cert, a.key), secret('w', w.cert, w.key), secret('nokey', a.cert, undefined), secret('garbage', 'CERT', 'KEY'), secret('mismatch', a.cert, w.key)],
  });
  t.deepEqual(table.certs.map((c) => c.secret), ['default/a', 'default/w']);
  t.deepEqual(table.tlsProblems.map((p) => [p.secret, p.reason.replace(/ \(.*\)$/, '')]), [
    ['default/missing', 'secret default/missing not found'],
    ['default/nokey', 'secret default/nokey has no tls.crt or tls.key'],
    ['default/garbage', 'tls.crt is not a PEM certificate'],
    ['default/mismatch', 'tls.key does not match the certificate in tls.crt'],
  ]);
  t.is(table.certificateFor('A.example.com')?.secret, 'default/a');
  t.is(table.certificateFor('x.wild.org')?.secret, 'default/w');
  t.is(table.certificateFor('unknown.net'), undefined, 'no matching certificate: the default one');
  t.is(table.certificateFor('m.org'), undefined, 'its Secret is missing: the default one');
  t.is(table.certificateFor(undefined), undefined, 'no SNI: the default one');
});
