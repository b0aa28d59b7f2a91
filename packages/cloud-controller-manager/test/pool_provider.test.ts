// The mkube provider's machines: the machines file's lines, a machine gone with its line or with its
// network namespace; instance metadata and the Instances/Zones answers the node controllers use.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node } from '@mkube/api';
import { parseMachines, PoolProvider } from '../src/pool_provider.js';

test('machines file: NAME IP [NETNS] lines, comments and blanks ignored', (t) => {
  t.deepEqual(parseMachines('# lab\nw1 10.213.1.11 mk-w1\n\nw2 10.213.1.12   # no netns\n'), [
    { name: 'w1', ip: '10.213.1.11', netns: 'mk-w1' },
    { name: 'w2', ip: '10.213.1.12' },
  ]);
});

test('a machine exists while its line and its network namespace do; metadata and zones', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-ccm-provider-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const netnsDir = join(dir, 'netns');
  const machinesFile = join(dir, 'machines');
  writeFileSync(machinesFile, 'w1 10.213.1.11 mk-w1\nw2 10.213.1.12\n');
  mkdirSync(netnsDir);
  writeFileSync(join(netnsDir, 'mk-w1'), '');
  const p = new PoolProvider({ machinesFile, netnsDir, zone: 'z1', region: 'r1' });
  const node = (name: string) => ({ metadata: { name } }) as Node;
  t.true(await p.instanceExists(node('w1')));
  t.true(await p.instanceExistsByProviderID('mkube://w2'));
  t.false(await p.instanceExists(node('w3')));
  t.deepEqual(await p.instanceMetadata(node('w1')), {
    providerID: 'mkube://w1',
    instanceType: 'lab',
    nodeAddresses: [
      { type: 'InternalIP', address: '10.213.1.11' },
      { type: 'Hostname', address: 'w1' },
    ],
    zone: 'z1',
    region: 'r1',
  });
  rmSync(join(netnsDir, 'mk-w1'));
  t.false(await p.instanceExists(node('w1')), 'its network namespace is gone');
  await t.throwsAsync(p.nodeAddresses('w1'), { code: 'InstanceNotFound' });
  t.is(p.loadBalancer(), undefined, 'no pool: no load balancers');
  t.truthy(p.instancesV2());
});
