// mkube chaos --hosts-file: the hosts file parser (every field validated, errors naming the line,
// commands split without a shell) and the isolation rules a VM gets (ssh kept, loopback kept).
import test from 'ava';
import { parseHostsFile } from '../src/chaos/hosts_file.js';
import { isolationRules } from '../src/chaos/host_ops.js';

const GOOD = `# a 3+2 cluster on VMs
cp1 control-plane 10.0.0.11 /var/lib/mkube ssh root@10.0.0.11
cp2 control-plane 10.0.0.12 /var/lib/mkube ssh -i /root/.ssh/chaos -o BatchMode=yes root@10.0.0.12   # key, no prompt

cp3  control-plane  10.0.0.13  /var/lib/mkube  ssh root@10.0.0.13
w1 worker 10.0.0.21 /var/lib/mkube nsenter --net=/run/netns/mkcht-w1
w2.example worker 10.0.0.22 /data/mk-w2 ssh root@10.0.0.22
`;

test('a hosts file: names, roles, addresses, data directories, argv-split commands; comments and blank lines skipped', (t) => {
  const hosts = parseHostsFile(GOOD, 'hosts');
  t.deepEqual(hosts.map((h) => h.name), ['cp1', 'cp2', 'cp3', 'w1', 'w2.example']);
  t.deepEqual(hosts.map((h) => h.role), ['control-plane', 'control-plane', 'control-plane', 'worker', 'worker']);
  t.deepEqual(hosts[1], { name: 'cp2', role: 'control-plane', address: '10.0.0.12', dataDir: '/var/lib/mkube', command: ['ssh', '-i', '/root/.ssh/chaos', '-o', 'BatchMode=yes', 'root@10.0.0.12'] });
  t.deepEqual(hosts[3]!.command, ['nsenter', '--net=/run/netns/mkcht-w1']);
  t.is(hosts[4]!.dataDir, '/data/mk-w2');
});

test('a hosts file: every bad field is refused with the file, the line and what is wrong', (t) => {
  const bad: Array<[string, RegExp]> = [
    ['cp1 control-plane 10.0.0.11 /var/lib/mkube', /^hosts:1: expected NAME ROLE ADDRESS DATA-DIR COMMAND/],
    ['\n\nCP1 control-plane 10.0.0.11 /d ssh x', /^hosts:3: host name "CP1" is not a DNS label/],
    ['cp_1 control-plane 10.0.0.11 /d ssh x', /^hosts:1: host name "cp_1"/],
    ['cp1 master 10.0.0.11 /d ssh x', /^hosts:1: role "master" must be control-plane or worker/],
    ['cp1 worker 10.0.0.256 /d ssh x', /^hosts:1: address "10.0.0.256" is not an IPv4 address/],
    ['cp1 worker cp1.example /d ssh x', /^hosts:1: address "cp1.example" is not an IPv4 address/],
    ['cp1 worker 10.0.0.1 var/lib ssh x', /^hosts:1: data directory "var\/lib" must be an absolute path/],
    ['cp1 worker 10.0.0.1 /var/../etc ssh x', /^hosts:1: data directory "\/var\/..\/etc"/],
    ['cp1 worker 10.0.0.1 /var/$HOME ssh x', /^hosts:1: data directory "\/var\/\$HOME"/],
    ['cp1 worker 10.0.0.1 /d ssh x\ncp1 worker 10.0.0.2 /d ssh y', /^hosts:2: host cp1 is listed twice/],
    ['cp1 worker 10.0.0.1 /d ssh x\ncp2 worker 10.0.0.1 /d ssh y', /^hosts:2: address 10.0.0.1 is listed twice/],
    ['# nothing\n\n', /^hosts: no hosts/],
  ];
  for (const [text, message] of bad) {
    const err = t.throws(() => parseHostsFile(text, 'hosts'), { message }, text);
    t.is((err as Error & { code?: string }).code, 'BAD_HOSTS_FILE');
  }
});

test('a command is split on blanks without a shell: quotes and $ stay as they are', (t) => {
  const [h] = parseHostsFile(`cp1 worker 10.0.0.1 /d ssh "root@x" $HOST;rm`, 'hosts');
  t.deepEqual(h!.command, ['ssh', '"root@x"', '$HOST;rm']);
});

test('isolation rules: loopback kept; on a machine reached over ssh TCP port 22 both ways kept, no established-traffic rule', (t) => {
  const lab = isolationRules();
  t.false(lab.includes('--dport 22'));
  const vm = isolationRules({ keepSsh: true }).split('\n');
  const chain = vm.filter((l) => l.startsWith('-A MKUBE-CHAOS'));
  t.deepEqual(chain, ['-A MKUBE-CHAOS -i lo -j RETURN', '-A MKUBE-CHAOS -o lo -j RETURN', '-A MKUBE-CHAOS -p tcp --dport 22 -j RETURN', '-A MKUBE-CHAOS -p tcp --sport 22 -j RETURN', '-A MKUBE-CHAOS -j DROP']);
  t.false(vm.some((l) => /ESTABLISHED|conntrack|state/.test(l)));
  t.deepEqual(vm.filter((l) => l.startsWith('-I')), ['-I INPUT 1 -j MKUBE-CHAOS', '-I OUTPUT 1 -j MKUBE-CHAOS', '-I FORWARD 1 -j MKUBE-CHAOS']);
});
