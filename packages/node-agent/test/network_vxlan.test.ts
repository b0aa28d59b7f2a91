// The VXLAN overlay's pure parts (no root): the sink guard's MAC / VNI /
// link-name / VTEP checks on Node annotations, the peers a node programs
// (mode auto leaves on-link peers to host-gw), the annotations it publishes,
// and the pod MTU written into the node's mkube conflist.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cniConflist } from '../src/network.js';
import { desiredPeers, ensureCniMtu, ownAnnotations, vtepAddressOf, vxlanDeviceName, type OverlayNode } from '../src/network_vxlan.js';
import {
  checkNodeVxlan, ipv4InCidr, isSafeLinkName, isSafeMac, isSafeUnicastIPv4, isSafeVni, LastGood, SinkRefusal,
  VXLAN_BACKEND_DATA_ANNOTATION, VXLAN_PUBLIC_IP_ANNOTATION,
} from '../src/proxy/sink_guard.js';

const node = (name: string, podCIDR: string, ip: string, data?: Record<string, unknown> | string, publicIP: string = ip): OverlayNode => ({
  metadata: {
    name,
    annotations: data === undefined ? {} : { [VXLAN_BACKEND_DATA_ANNOTATION]: typeof data === 'string' ? data : JSON.stringify(data), [VXLAN_PUBLIC_IP_ANNOTATION]: publicIP },
  },
  spec: { podCIDR },
  status: { addresses: [{ type: 'InternalIP', address: ip }] },
});

const refusal = (fn: () => void): SinkRefusal => {
  try {
    fn();
  } catch (err) {
    if (err instanceof SinkRefusal) return err;
    throw err;
  }
  throw new Error('not refused');
};

test('values: MACs are unicast lower-case colon form, VNIs 24-bit, link names IFNAMSIZ-safe, tunnel ends unicast IPv4', (t) => {
  t.true(isSafeMac('0a:1b:2c:3d:4e:5f'));
  for (const bad of ['0a:1b:2c:3d:4e:5f ', ' 0a:1b:2c:3d:4e:5f', '0a:1b:2c:3d:4e:5f\n', '0A:1B:2C:3D:4E:5F', '0a-1b-2c-3d-4e-5f', '01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', '0a:1b:2c:3d:4e', 42, null]) {
    t.false(isSafeMac(bad), JSON.stringify(bad));
  }
  t.true(isSafeVni(1));
  t.true(isSafeVni(16777215));
  for (const bad of [0, 16777216, 1.5, '1', -1]) t.false(isSafeVni(bad), String(bad));
  t.true(isSafeLinkName('mkube.1'));
  t.true(isSafeLinkName(vxlanDeviceName(16777215)));
  for (const bad of ['', 'mkube.1 type', 'a-very-long-interface', '-x', '../x', 'x/y']) t.false(isSafeLinkName(bad), bad);
  t.true(isSafeUnicastIPv4('10.213.164.11'));
  for (const bad of ['0.0.0.0', '127.0.0.1', '169.254.1.1', '224.0.0.1', '255.255.255.255', '10.0.0.1 dev eth0', 'fd00::1']) t.false(isSafeUnicastIPv4(bad), bad);
  t.true(ipv4InCidr('10.213.165.0', '10.213.165.0/24'));
  t.true(ipv4InCidr('10.213.165.255', '10.213.165.0/24'));
  t.false(ipv4InCidr('10.213.166.0', '10.213.165.0/24'));
  t.is(vtepAddressOf('10.213.165.0/24'), '10.213.165.0');
});

test('checkNodeVxlan: names the Node and the annotation field; a Node without annotations passes', (t) => {
  const ok = { VNI: 1, VtepMAC: '0a:00:00:00:00:02', VtepIP: '10.244.2.0' };
  t.notThrows(() => checkNodeVxlan(node('n2', '10.244.2.0/24', '192.168.56.12', ok)));
  t.notThrows(() => checkNodeVxlan(node('n2', '10.244.2.0/24', '192.168.56.12')));
  const mac = refusal(() => checkNodeVxlan(node('n2', '10.244.2.0/24', '192.168.56.12', { ...ok, VtepMAC: '0a:00:00:00:00:02 dev eth0' })));
  t.is(mac.code, 'SinkValueRefused');
  t.is(mac.key, 'Node default/n2');
  t.is(mac.field, `metadata.annotations[${VXLAN_BACKEND_DATA_ANNOTATION}].VtepMAC`);
  t.is(refusal(() => checkNodeVxlan(node('n2', '10.244.2.0/24', '192.168.56.12', { ...ok, VtepIP: '10.244.1.7' }))).field, `metadata.annotations[${VXLAN_BACKEND_DATA_ANNOTATION}].VtepIP`);
  t.regex(refusal(() => checkNodeVxlan(node('n2', '10.244.2.0/24', '192.168.56.12', { ...ok, VtepIP: '10.244.1.7' }))).message, /outside the node's podCIDR 10\.244\.2\.0\/24/);
  t.is(refusal(() => checkNodeVxlan(node('n2', '10.244.2.0/24', '192.168.56.12', { ...ok, VNI: 2 ** 24 }))).field, `metadata.annotations[${VXLAN_BACKEND_DATA_ANNOTATION}].VNI`);
  t.is(refusal(() => checkNodeVxlan(node('n2', '10.244.2.0/24', '192.168.56.12', '{"VNI":1,'))).field, `metadata.annotations[${VXLAN_BACKEND_DATA_ANNOTATION}]`);
  t.is(refusal(() => checkNodeVxlan(node('n2', '10.244.2.0/24', '192.168.56.12', ok, '224.0.0.5'))).field, `metadata.annotations[${VXLAN_PUBLIC_IP_ANNOTATION}]`);
  // The host-gw checks still apply.
  t.is(refusal(() => checkNodeVxlan(node('n2', '0.0.0.0/0', '192.168.56.12', ok))).field, 'spec.podCIDR');
});

test('peers: every other node with backend data of our VNI; refused ones keep their last good version; auto leaves on-link ones to host-gw', (t) => {
  const self = node('self', '10.244.0.0/24', '192.168.56.10', { VNI: 1, VtepMAC: '0a:00:00:00:00:10', VtepIP: '10.244.0.0' });
  const n1 = node('n1', '10.244.1.0/24', '192.168.56.11', { VNI: 1, VtepMAC: '0a:00:00:00:00:11', VtepIP: '10.244.1.0' }, '192.168.57.11');
  const n2 = node('n2', '10.244.2.0/24', '192.168.99.12', { VNI: 1, VtepMAC: '0a:00:00:00:00:12', VtepIP: '10.244.2.0' });
  const other = node('n3', '10.244.3.0/24', '192.168.56.13', { VNI: 7, VtepMAC: '0a:00:00:00:00:13', VtepIP: '10.244.3.0' });
  const bare = node('n4', '10.244.4.0/24', '192.168.56.14');
  t.deepEqual(desiredPeers('self', [self, n1, n2, other, bare], 1), [
    { node: 'n1', podCIDR: '10.244.1.0/24', vtepIP: '10.244.1.0', mac: '0a:00:00:00:00:11', publicIP: '192.168.57.11' },
    { node: 'n2', podCIDR: '10.244.2.0/24', vtepIP: '10.244.2.0', mac: '0a:00:00:00:00:12', publicIP: '192.168.99.12' },
  ]);
  t.deepEqual(desiredPeers('self', [self, n1, n2], 1, (n) => n.metadata.name === 'n1').map((p) => p.node), ['n2']);

  const good = new LastGood<OverlayNode>((n) => n.metadata.name, checkNodeVxlan);
  const refused: SinkRefusal[] = [];
  t.is(good.filter([self, n1, n2], (r) => refused.push(r)).length, 3);
  const poisoned = node('n1', '10.244.1.0/24', '192.168.56.11', { VNI: 1, VtepMAC: ' 0a:00:00:00:00:99', VtepIP: '10.244.1.0' });
  const ghost = node('ghost', '10.244.9.0/24', '192.168.56.19', { VNI: 1, VtepMAC: '0a:00:00:00:00:19', VtepIP: '10.244.0.5' });
  const peers = desiredPeers('self', good.filter([self, poisoned, n2, ghost], (r) => refused.push(r)), 1);
  t.deepEqual(peers.map((p) => `${p.node} ${p.mac}`), ['n1 0a:00:00:00:00:11', 'n2 0a:00:00:00:00:12'], 'n1 keeps its last good MAC, the ghost is left out');
  t.deepEqual(refused.map((r) => `${r.key} ${r.field}`), [`Node default/n1 metadata.annotations[${VXLAN_BACKEND_DATA_ANNOTATION}].VtepMAC`, `Node default/ghost metadata.annotations[${VXLAN_BACKEND_DATA_ANNOTATION}].VtepIP`]);
});

test('published annotations are what the guard accepts; the pod MTU lands in the bridge plugin of the mkube conflist only', (t) => {
  const ann = ownAnnotations(1, '0a:00:00:00:00:10', '10.244.0.0', '192.168.56.10');
  t.deepEqual(JSON.parse(ann[VXLAN_BACKEND_DATA_ANNOTATION]!), { VNI: 1, VtepMAC: '0a:00:00:00:00:10', VtepIP: '10.244.0.0' });
  t.is(ann[VXLAN_PUBLIC_IP_ANNOTATION], '192.168.56.10');
  t.notThrows(() => checkNodeVxlan({ metadata: { name: 'self', annotations: ann }, spec: { podCIDR: '10.244.0.0/24' } }));

  const dir = mkdtempSync(join(tmpdir(), 'mkvx-cni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.false(ensureCniMtu(dir, 1450), 'no conflist: nothing written');
  const file = join(dir, '10-mkube.conflist');
  writeFileSync(file, JSON.stringify(cniConflist({ confDir: dir, networkName: 'n', bridge: 'cni-mk0', podCIDR: '10.244.0.0/24', ipamDataDir: join(dir, 'ipam') })));
  t.true(ensureCniMtu(dir, 1450));
  const conf = JSON.parse(readFileSync(file, 'utf8')) as { plugins: { type: string; mtu?: number }[] };
  t.is(conf.plugins.find((p) => p.type === 'bridge')!.mtu, 1450);
  t.is(conf.plugins.filter((p) => p.mtu !== undefined).length, 1);
  t.false(ensureCniMtu(dir, 1450), 'unchanged: not rewritten');
});
