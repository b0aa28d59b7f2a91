// In-cluster config end to end, with real containerd: a lab worker (network
// namespace) runs mkube-node-agent as its node identity (system:node:NAME)
// with the service proxy; the API server runs the ServiceAccount admission,
// the controller manager the serviceaccount and root-ca-cert-publisher
// controllers. A pod whose ServiceAccount is bound to `view` finds the token,
// ca.crt and namespace at /var/run/secrets/kubernetes.io/serviceaccount and
// KUBERNETES_SERVICE_HOST/PORT in its environment, lists pods with a plain
// HTTPS request to the kubernetes Service, and is refused (403) for secrets.
//
// busybox's wget cannot verify a certificate (and its own TLS offers only
// SHA-1 signatures, which the API server refuses), so the pod's HTTPS client
// is nginx (OpenSSL) in a second container: it proxies the pod's plain
// requests on 127.0.0.1:8080 to https://$KUBERNETES_SERVICE_HOST:443 with
// proxy_ssl_verify against the mounted ca.crt (name kubernetes.default.svc)
// and the mounted token as bearer, written into its config by an init
// container. The test also checks, with the pod's ca.crt, that the certificate
// is valid for the Service's IP (10.213.200.1).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { checkServerIdentity } from 'node:tls';
import test from 'ava';
import { issueCertificate, kubeconfig } from '@mkube/apiserver';
import { Resources, type KubeObject } from '@mkube/client';
import { ControllerManager } from '@mkube/controllers';
import { pino } from 'pino';
import { kubectl, startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabSummary } from './lab_helper.js';

const LAB = 'mksa';
const SUBNET = 190; // nodes 10.213.190.0/24, pods 10.213.191.0/24
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The init container's script: nginx's config, with the Service's address and the mounted token. */
const NGINX_CONFIG_SCRIPT = [
  `T=$(cat ${SA_DIR}/token)`,
  'mkdir -p /shared/tmp',
  'cat > /shared/nginx.conf <<EOF',
  'pid /shared/nginx.pid;',
  'error_log /dev/stderr info;',
  'events {}',
  'http {',
  '  access_log off;',
  '  client_body_temp_path /shared/tmp/body; proxy_temp_path /shared/tmp/proxy; fastcgi_temp_path /shared/tmp/fcgi; uwsgi_temp_path /shared/tmp/uwsgi; scgi_temp_path /shared/tmp/scgi;',
  '  server {',
  '    listen 127.0.0.1:8080;',
  '    location / {',
  '      proxy_pass https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT;',
  '      proxy_ssl_verify on;',
  `      proxy_ssl_trusted_certificate ${SA_DIR}/ca.crt;`,
  '      proxy_ssl_name kubernetes.default.svc;',
  '      proxy_set_header Authorization "Bearer $T";',
  '    }',
  '  }',
  '}',
  'EOF',
].join('\n');

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let agent: AgentProcess | undefined;
let root: string | undefined;

test.after.always(async () => {
  await agent?.kill('SIGKILL');
  await cm?.stop();
  await cp?.stop();
  await labDown(LAB);
  if (root) rmSync(root, { recursive: true, force: true });
});

test('a pod bound to view lists pods over HTTPS with its mounted token and is refused secrets', async (t) => {
  t.timeout(240_000);
  lab = await labUp(['--workers', '1', '--name', LAB, '--subnet', String(SUBNET)]);
  const w = lab.workers[0]!;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway, api: { serviceAccountAdmission: true } });
  cm = new ControllerManager({ kubeconfig: cp.kubeconfigPath, leaderElect: false, controllers: ['serviceaccount', 'root-ca-cert-publisher'], metricsPort: -1, logger: pino({ level: 'silent' }) });
  await cm.start();

  // The agent authenticates as its node, so the Node authorizer decides its token requests.
  const pkiDir = join(cp.dir, 'api', 'pki');
  issueCertificate(pkiDir, `node-${w.name}`, `/O=system:nodes/CN=system:node:${w.name}`, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const nodeKubeconfig = join(cp.dir, `${w.name}.kubeconfig`);
  writeFileSync(nodeKubeconfig, kubeconfig(cp.api.url, cp.api.pki.caCert, `system:node:${w.name}`, { cert: readFileSync(join(pkiDir, `node-${w.name}.crt`), 'utf8'), key: readFileSync(join(pkiDir, `node-${w.name}.key`), 'utf8') }), { mode: 0o600 });
  root = tmpRoot(LAB);
  agent = await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR], { netns: true, kubeconfig: nodeKubeconfig });

  const client = cp.client;
  await waitFor('the default ServiceAccount', 30_000, async () => (await client.resource(Resources.serviceaccounts).get('default', 'default').catch(() => undefined)) ?? undefined);
  await client.resource(Resources.serviceaccounts).create('default', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: 'default' } } as KubeObject);
  await client.request('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'reader-view' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'default' }],
  });
  await waitFor('kube-root-ca.crt in default', 30_000, async () => (await client.resource(Resources.configmaps).get('default', 'kube-root-ca.crt').catch(() => undefined)) ?? undefined);
  const pods = client.resource(Resources.pods);
  const created = await pods.create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'incluster', namespace: 'default' },
    spec: {
      nodeName: w.name,
      serviceAccountName: 'reader',
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'shared', emptyDir: {} }],
      initContainers: [{ name: 'config', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', NGINX_CONFIG_SCRIPT], volumeMounts: [{ name: 'shared', mountPath: '/shared' }] }],
      containers: [
        { name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'] },
        { name: 'https-client', image: 'nginx', imagePullPolicy: 'IfNotPresent', command: ['nginx', '-c', '/shared/nginx.conf', '-g', 'daemon off;'], volumeMounts: [{ name: 'shared', mountPath: '/shared' }] },
      ],
    },
  } as KubeObject);
  t.true((created.spec.volumes as Array<{ name: string }>).some((v) => v.name.startsWith('kube-api-access-')), 'the admission added the token volume');
  await waitFor('the pod Running', 60_000, async () => {
    const p = await pods.get('default', 'incluster');
    return p.status?.phase === 'Running' ? p : undefined;
  });
  const exec = (script: string) => kubectl(cp!, ['exec', 'incluster', '-c', 'main', '--', 'sh', '-c', script]);

  // The environment and the files.
  const env = (await exec('echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT:$KUBERNETES_PORT')).stdout.trim();
  t.is(env, '10.213.200.1:443:tcp://10.213.200.1:443');
  t.is((await exec(`cat ${SA_DIR}/namespace`)).stdout, 'default');
  const caInPod = (await exec(`cat ${SA_DIR}/ca.crt`)).stdout;
  t.is(caInPod, cp.api.pki.caCert);
  const token = (await exec(`cat ${SA_DIR}/token`)).stdout;
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
  t.is(claims.sub, 'system:serviceaccount:default:reader');
  t.is(claims['kubernetes.io'].pod.name, 'incluster');
  t.is(claims['kubernetes.io'].pod.uid, created.metadata.uid);
  t.is(claims['kubernetes.io'].node.name, w.name);
  t.regex((await exec(`ls -lL ${SA_DIR}/token`)).stdout, /^-rw-r--r--/);

  // From inside the pod: the Service's address, verified against the mounted CA, with the mounted token (nginx's proxy).
  const get = (path: string) => `wget -qO- "http://127.0.0.1:8080${path}" 2>&1; echo "exit=$?"`;
  let last = '';
  const list = await waitFor('pods listed from inside the pod', 60_000, async () => {
    const r = await exec(get('/api/v1/namespaces/$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)/pods')).catch((err: Error) => ({ stdout: err.message }));
    last = r.stdout;
    return r.stdout.includes('"kind":"PodList"') ? r.stdout.slice(0, r.stdout.lastIndexOf('exit=')) : undefined;
  }).catch((err: Error) => {
    const logs = kubectl(cp!, ['logs', 'incluster', '-c', 'https-client']).then((r) => r.stdout, () => '');
    return logs.then((l) => Promise.reject(new Error(`${err.message}; last answer: ${last.slice(0, 1500)}; nginx: ${l.slice(-1500)}`)));
  });
  t.true((JSON.parse(list).items as KubeObject[]).some((p) => p.metadata.name === 'incluster'));
  const secrets = await exec(get('/api/v1/namespaces/default/secrets'));
  t.regex(secrets.stdout, /403 Forbidden/);
  t.regex(secrets.stdout, /exit=1/);

  // Checked with the pod's own ca.crt: the API server's certificate is also valid for the Service's IP.
  const peer = await new Promise<PeerCertificate>((resolve, reject) => {
    const s = connect({ host: lab!.gateway, port: cp!.port, ca: caInPod, checkServerIdentity: () => undefined }, () => {
      const cert = s.getPeerCertificate();
      s.end();
      if (!s.authorized) reject(new Error(`not authorized: ${String(s.authorizationError)}`));
      else resolve(cert);
    });
    s.on('error', reject);
  });
  t.is(checkServerIdentity('10.213.200.1', peer), undefined);
  t.is(checkServerIdentity('kubernetes.default.svc', peer), undefined);
});
