// The multi-machine commands of the mkube CLI: `mkube init`, `mkube join`, `mkube token create|list|delete`
// (flags as kubeadm's), dispatched from bin/mkube.ts.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseGoDuration } from '@mkube/component-base';
import { adminCreds, type AdminCreds } from './api_probe.js';
import { init } from './init.js';
import { joinCluster } from './join.js';
import { joinControlPlane } from './join_control_plane.js';
import { leave, removeMember } from './leave.js';
import { refreshEtcdServers } from './control_plane.js';
import { refreshAddonKubeconfigs } from './join_addons.js';
import { refreshWorkerKubeconfigs } from './worker_refresh.js';
import { startStopped } from './start.js';
import { readState } from './processes.js';
import { readMemberRecord } from './store_member.js';
import { StepFailed } from './progress.js';
import { createCertificateKey, KUBEADM_CERTS_SECRET, uploadCerts } from './upload_certs.js';
import { createToken, deleteToken, formatTokens, listTokens } from './token.js';

export const CLUSTER_COMMANDS_USAGE = `  mkube init --advertise-address IP [--data-dir DIR] [--api-port 6443] [--cluster-signing-duration 8760h] [--token-ttl 24h]
             [--node-name NAME] [--upload-certs [--certificate-key HEX]] [--lb-address-pool CIDR]
  mkube init phase upload-certs --upload-certs [--certificate-key HEX] [--data-dir DIR]
                                                                on a control plane: upload the shared PKI again (new key)
                                                                the first control plane; prints the join command
  mkube join https://IP:6443 --token T --discovery-token-ca-cert-hash sha256:H [--data-dir DIR] [--node-ip IP]
             [--node-name NAME] [--cri-socket unix:///run/containerd/containerd.sock] [--pod-cidr CIDR] [--cni-conf-dir DIR]
                                                                join this machine as a worker (TLS bootstrap)
  mkube join https://IP:6443 --token T --discovery-token-ca-cert-hash sha256:H --control-plane --certificate-key K
             --advertise-address IP [--node-name NAME] [--data-dir DIR] [--api-port 6443]
                                                                join this machine as another control plane
                                                                (store learner, promoted once in sync)
  mkube token create [--ttl 24h] [TOKEN] | list | delete ID...  [--data-dir DIR]   bootstrap tokens (on a control plane)
  mkube leave [--data-dir DIR] [--force] [--kubeconfig ADMIN]   this machine leaves: a control plane removes its store member
                                                                (refused below quorum unless --force) and stops; a worker is
                                                                drained and its Node deleted (with an admin kubeconfig)
  mkube remove-member NAME [--data-dir DIR] [--force]           on a live control plane: remove a dead control plane
  mkube start [--data-dir DIR]                                  start this machine's stopped processes again (after a reboot)
             [--refresh-etcd-servers]                           and restart its API server with every store member, its add-ons and a worker's
                                                                components with every API server (after control-plane joins)
`;

function ttlMs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return v === '0' ? 0 : parseGoDuration(v);
}

function controlPlaneCreds(dataDir: string): AdminCreds {
  const state = readState(dataDir);
  if (!state) throw new Error(`no control plane state in ${dataDir} (run mkube init --data-dir ${dataDir} first)`);
  return adminCreds(join(state.dataDir, 'apiserver'), state.apiServer);
}

export async function runClusterCommand(command: 'init' | 'join' | 'token' | 'leave' | 'remove-member' | 'start', args: string[]): Promise<number> {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string', default: '.mkube' },
      'advertise-address': { type: 'string' },
      'api-port': { type: 'string', default: '6443' },
      'cluster-signing-duration': { type: 'string' },
      'token-ttl': { type: 'string' },
      token: { type: 'string' },
      'discovery-token-ca-cert-hash': { type: 'string', multiple: true },
      'node-ip': { type: 'string' },
      'node-name': { type: 'string' },
      'cri-socket': { type: 'string' },
      'pod-cidr': { type: 'string' },
      'cni-conf-dir': { type: 'string' },
      'cgroup-root': { type: 'string' },
      'pod-logs-dir': { type: 'string' },
      'control-plane': { type: 'boolean', default: false },
      'certificate-key': { type: 'string' },
      'upload-certs': { type: 'boolean', default: false },
      'lb-address-pool': { type: 'string' },
      'refresh-etcd-servers': { type: 'boolean', default: false },
      ttl: { type: 'string' },
      force: { type: 'boolean', default: false },
      kubeconfig: { type: 'string' },
    },
  });
  const dataDir = values['data-dir']!;
  try {
    if (command === 'init' && positionals[0] === 'phase') {
      // kubeadm's `init phase upload-certs --upload-certs`: a fresh kubeadm-certs Secret (and key) on a running control plane.
      if (positionals[1] !== 'upload-certs' || !values['upload-certs']) throw new Error('mkube init phase: only "upload-certs --upload-certs" is supported');
      const key = values['certificate-key'] ?? createCertificateKey();
      await uploadCerts(controlPlaneCreds(dataDir), join(dataDir, 'apiserver', 'pki'), key);
      process.stdout.write(`[upload-certs] Storing the certificates in Secret "${KUBEADM_CERTS_SECRET}" in the "kube-system" Namespace\n[upload-certs] Using certificate key:\n${key}\n`);
      return 0;
    }
    if (command === 'init') {
      if (!values['advertise-address']) throw new Error('--advertise-address is required');
      const r = await init({
        dataDir, advertiseAddress: values['advertise-address'], apiPort: Number(values['api-port']), clusterSigningDuration: values['cluster-signing-duration'], tokenTtlMs: ttlMs(values['token-ttl']),
        nodeName: values['node-name'], uploadCerts: values['upload-certs'], certificateKey: values['certificate-key'], lbAddressPool: values['lb-address-pool'], log,
      });
      process.stdout.write(`\nYour mkube control plane has initialized successfully!\n\nTo use it:\n\n  export KUBECONFIG=${r.state.kubeconfig}\n\n`);
      if (r.controlPlaneJoinCommand) {
        process.stdout.write(`You can now join any number of control-plane nodes running the following command on each as root:\n\n${r.controlPlaneJoinCommand} --advertise-address IP\n\n`
          + 'Please note that the certificate-key gives access to cluster sensitive data, keep it secret!\n'
          + 'As a safeguard, uploaded-certs will be deleted in two hours.\n\n');
      }
      process.stdout.write(`Then join any number of worker nodes by running the following on each as root:\n\n${r.joinCommand}\n`);
      return 0;
    }
    if (command === 'join') {
      const url = positionals[0];
      if (!url) throw new Error('the API server endpoint (https://IP:6443) is required');
      if (!values.token) throw new Error('--token is required');
      const hashes = values['discovery-token-ca-cert-hash'] ?? [];
      if (hashes.length === 0) throw new Error('--discovery-token-ca-cert-hash is required (the CA public key pin printed by mkube init)');
      const endpoint = /^https:\/\//.test(url) ? url : `https://${url}`;
      if (values['control-plane'] || values['certificate-key']) {
        if (!values['control-plane']) throw new Error('--certificate-key is only used with --control-plane');
        const r = await joinControlPlane({
          apiServer: endpoint, token: values.token, caCertHashes: hashes, certificateKey: values['certificate-key'] ?? '', advertiseAddress: values['advertise-address'] ?? '',
          dataDir, apiPort: Number(values['api-port']), nodeName: values['node-name'], clusterSigningDuration: values['cluster-signing-duration'],
        });
        process.stdout.write(`\nThis node has joined the cluster and a new control plane instance was created: control plane ${r.name}, store member promoted to voter (${r.members} voting members).\n\nTo use it:\n\n  export KUBECONFIG=${r.state.kubeconfig}\n\nRun 'mkube status --data-dir ${dataDir}' to see this control plane join the cluster.\n`);
        return 0;
      }
      if (!values['node-ip']) throw new Error('--node-ip is required');
      const r = await joinCluster({
        apiServer: endpoint, token: values.token, caCertHashes: hashes, dataDir, nodeIP: values['node-ip'], nodeName: values['node-name'], criSocket: values['cri-socket'],
        podCIDR: values['pod-cidr'], cniConfDir: values['cni-conf-dir'], cgroupRoot: values['cgroup-root'], podLogsDir: values['pod-logs-dir'],
        controlPlane: values['control-plane'], certificateKey: values['certificate-key'], log,
      });
      process.stdout.write(`\nThis node has joined the cluster: node ${r.nodeName}, certificate signed through a CertificateSigningRequest.\nRun 'kubectl get nodes' on the control plane to see it.\n`);
      return 0;
    }
    if (command === 'leave') {
      const r = await leave({ dataDir, force: values.force, kubeconfig: values.kubeconfig, warn: log });
      process.stdout.write(`\n${r.role === 'control-plane' ? `Control plane ${r.name} left the cluster: its store member was removed and its components stopped.` : `Node ${r.name} was drained, its node agent stopped and the Node deleted.`}\n`);
      return 0;
    }
    if (command === 'start') {
      const started = startStopped(dataDir);
      process.stdout.write(started.length ? `started again: ${started.join(', ')}\n` : 'every process is running\n');
      if (values['refresh-etcd-servers'] && !readMemberRecord(join(resolve(dataDir), 'apiserver'))) {
        // A worker: its kubeconfigs made to list every API server cluster-info names (worker_refresh.ts).
        const w = await refreshWorkerKubeconfigs(dataDir);
        process.stdout.write(`${w.restarted.length ? `${w.restarted.join(', ')} restarted with` : 'the node\'s kubeconfigs already list'} every API server: ${w.servers.join(',')}\n`);
      } else if (values['refresh-etcd-servers']) {
        const r = await refreshEtcdServers(dataDir);
        process.stdout.write(`${r.restarted ? 'API server restarted with' : 'the API server already has'} --etcd-servers ${r.servers.join(',')}\n`);
        // The same step for the add-ons' kubeconfigs (the CCM and metrics-server: every API server, join_addons.ts).
        const addons = await refreshAddonKubeconfigs(dataDir);
        process.stdout.write(`${addons.restarted.length ? `${addons.restarted.join(', ')} restarted with` : 'the add-on kubeconfigs already list'} every API server: ${addons.servers.join(',')}\n`);
      }
      return 0;
    }
    if (command === 'remove-member') {
      const name = positionals[0];
      if (!name) throw new Error('mkube remove-member NAME: the control plane (store member) to remove is required');
      await removeMember({ dataDir, name, force: values.force, warn: log });
      process.stdout.write(`\nControl plane ${name} removed from the store and the cluster's records.\n`);
      return 0;
    }
    const [sub, ...rest] = positionals;
    const creds = controlPlaneCreds(dataDir);
    if (sub === 'create') {
      process.stdout.write(`${await createToken(creds, { ttlMs: ttlMs(values.ttl), token: rest[0] })}\n`);
      return 0;
    }
    if (sub === 'list') {
      process.stdout.write(formatTokens(await listTokens(creds)));
      return 0;
    }
    if (sub === 'delete') {
      if (rest.length === 0) throw new Error('missing subcommand; "token delete" is missing token of form "[a-z0-9]{6}" or "[a-z0-9]{6}\\.[a-z0-9]{16}"');
      for (const id of rest) process.stdout.write(`bootstrap token "${await deleteToken(creds, id)}" deleted\n`);
      return 0;
    }
    throw new Error('mkube token: create | list | delete');
  } catch (err) {
    if (err instanceof StepFailed) log(`mkube ${command}: failed at "${err.step}": ${err.reason}${err.logFile ? `\n  log: ${err.logFile}` : ''}`);
    else log(`mkube ${command}: ${(err as Error).message}`);
    return 1;
  }
}
