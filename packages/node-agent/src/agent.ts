// NodeAgent: the whole node agent over a real API server — the pod lifecycle
// engine on an ApiClientPort, Node registration + Lease heartbeats, the
// HTTPS endpoint for logs/exec/attach, the CNI config and host-gw routes
// kept in sync from Node objects (or the VXLAN overlay: network_vxlan.ts), and
// a metrics/healthz endpoint.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Informer, KubeClient, Resources, type ClientConfig, type KubeObject } from '@mkube/client';
import { resourceFor, type Namespace, type NetworkPolicy, type Pod } from '@mkube/api';
import { CodedError, ComponentServer } from '@mkube/component-base';
import { ApiClientPort } from './api_client_port.js';
import type { ServiceLike as EnvService } from './runtime/service_env.js';
import { CriClient } from './cri/cri_client.js';
import { NodeHeartbeat } from './heartbeat.js';
import { silentLogger, type Logger } from './logger.js';
import { agentMetrics } from './metrics.js';
import { ensureCniConfig, RouteSync, type NodeLike } from './network.js';
import { ensureCniMtu, VxlanSync, type OverlayNode, type PodNetworkMode } from './network_vxlan.js';
import type { NodeIdentity, Reserved, Taint } from './node_status.js';
import { AgentServer } from './server/server.js';
import { StatsSummaryProvider } from './server/stats_summary.js';
import { ServiceProxy } from './proxy/service_proxy.js';
import { LbAnnouncer, type AnnouncerNode } from './lb_announcer.js';
import type { EndpointsLike, ServiceLike } from './proxy/service_rules.js';
import { endpointsFromSlices, type EndpointSliceLike } from './proxy/slice_endpoints.js';
import { PodLifecycleEngine, type PodLifecycleEngineOptions } from './sync.js';
import { LocalPathProvisioner } from './runtime/local_path_provisioner.js';
import { NetworkPolicyEnforcer } from './netpol/netpol_enforcer.js';

export interface NodeAgentOptions {
  clientConfig: ClientConfig;
  nodeName: string;
  nodeIP: string;
  criEndpoint: string;
  rootDir: string;
  podLogsDir?: string;
  cgroupRoot?: string;
  podCIDR?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  role?: string;
  reserved?: Reserved;
  maxPods?: number;
  /** Agent endpoint port (0: any). */
  port: number;
  tls: { cert: string; key: string } | { caCertFile: string; caKeyFile: string };
  /** CA that signs callers' certificates (default: the CA of the kubeconfig). */
  clientCA?: string;
  metricsPort?: number;
  metricsBindAddress?: string;
  leaseRenewMs?: number;
  statusUpdateMs?: number;
  /** CNI conf dir to ensure a conflist in (skipped when undefined). */
  cniConfDir?: string;
  cniBridge?: string;
  /** Program host-gw routes to other nodes (default true). */
  manageRoutes?: boolean;
  /** How pods reach other nodes' pods: host-gw routes (default), the VXLAN overlay, or auto (host-gw to on-link nodes, VXLAN otherwise). */
  podNetworkMode?: PodNetworkMode;
  /** The service proxy: 'iptables' programs the nat table of the agent's network namespace; 'none' (default) leaves it alone. */
  proxyMode?: 'iptables' | 'none';
  /** Announce the LoadBalancer addresses elected to this node (L2: address on the node's interface + gratuitous ARP; lb_announcer.ts). Needs proxyMode iptables (which DNATs them). */
  lbAnnounce?: boolean;
  /** Enforce NetworkPolicies on this node's pods in the filter table (netpol/; default: on when proxyMode is iptables). */
  networkPolicy?: boolean;
  /** Run the local-path provisioner (mkube.io/local-path) for claims selected to this node (default true). */
  localPathProvisioner?: boolean;
  logger?: Logger;
  engine?: Partial<PodLifecycleEngineOptions>;
}

/** A serving certificate for the node signed by the cluster CA (openssl CLI), kept under dir. */
export function issueServingCert(dir: string, caCertFile: string, caKeyFile: string, nodeName: string, nodeIP: string): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const certFile = join(dir, 'agent.crt');
  const keyFile = join(dir, 'agent.key');
  const sanFile = join(dir, 'agent.san');
  const san = `subjectAltName=IP:${nodeIP},IP:127.0.0.1,DNS:${nodeName},DNS:localhost\n`;
  const fresh = existsSync(certFile) && existsSync(sanFile) && readFileSync(sanFile, 'utf8') === san;
  if (!fresh) {
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    run(['req', '-new', '-key', keyFile, '-subj', `/O=system:nodes/CN=system:node:${nodeName}`, '-out', join(dir, 'agent.csr')]);
    writeFileSync(join(dir, 'agent.ext'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n${san}`);
    run(['x509', '-req', '-in', join(dir, 'agent.csr'), '-CA', caCertFile, '-CAkey', caKeyFile, '-CAcreateserial', '-CAserial', join(dir, 'ca.srl'), '-days', '365', '-sha256', '-extfile', join(dir, 'agent.ext'), '-out', certFile]);
    writeFileSync(sanFile, san);
  }
  chmodSync(keyFile, 0o600); // openssl writes it with the umask's mode
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

export class NodeAgent {
  readonly client: KubeClient;
  readonly api: ApiClientPort;
  cri!: CriClient;
  engine!: PodLifecycleEngine;
  heartbeat!: NodeHeartbeat;
  server!: AgentServer;
  readonly routes: RouteSync;
  /** The VXLAN overlay (pod network mode vxlan or auto). */
  readonly overlay: VxlanSync | undefined;
  /** The pods' MTU set in the CNI config (vxlan/auto: the underlay's minus 50). */
  private podMtu: number | undefined;
  readonly nodes: Informer<KubeObject>;
  readonly services: Informer<KubeObject>;
  readonly endpoints: Informer<KubeObject>;
  /** The proxy's endpoints come from EndpointSlices (Endpoints only for Services without any slice). */
  readonly endpointSlices: Informer<KubeObject>;
  readonly proxy: ServiceProxy | undefined;
  lbAnnouncer: LbAnnouncer | undefined;
  /** NetworkPolicy enforcement (netpol/) and the informers it reads: every pod, namespace and policy. */
  readonly netpol: NetworkPolicyEnforcer | undefined;
  private readonly netpolInformers: Informer<KubeObject>[] = [];
  private localPath: LocalPathProvisioner | undefined;
  private metricsServer?: ComponentServer;
  metricsPort = 0;
  private readonly log: Logger;
  private readonly startedAt = Date.now();

  constructor(private readonly o: NodeAgentOptions) {
    this.log = o.logger ?? silentLogger;
    this.client = new KubeClient({ timeoutMs: 10_000, userAgent: `mkube-node-agent/${o.nodeName}`, ...o.clientConfig });
    this.api = new ApiClientPort({ client: this.client, nodeName: o.nodeName, logger: this.log });
    this.routes = new RouteSync(o.nodeName, this.log);
    const mode = o.podNetworkMode ?? 'host-gw';
    this.overlay =
      mode !== 'host-gw' && o.manageRoutes !== false
        ? new VxlanSync({
            nodeName: o.nodeName,
            nodeIP: o.nodeIP,
            mode,
            routes: this.routes,
            logger: this.log,
            publish: async (annotations) => void (await this.client.resource(Resources.nodes).patch(undefined, o.nodeName, { metadata: { annotations } }, 'merge')),
          })
        : undefined;
    this.nodes = new Informer<KubeObject>(this.client.resource(Resources.nodes), { backoffInitialMs: 200, backoffMaxMs: 5_000, resyncMs: 30_000 });
    this.services = new Informer<KubeObject>(this.client.resource(Resources.services), { backoffInitialMs: 200, backoffMaxMs: 5_000, resyncMs: 30_000 });
    this.endpoints = new Informer<KubeObject>(this.client.resource(Resources.endpoints), { backoffInitialMs: 200, backoffMaxMs: 5_000, resyncMs: 30_000 });
    this.endpointSlices = new Informer<KubeObject>(this.client.resource(Resources.endpointslices), { backoffInitialMs: 200, backoffMaxMs: 5_000, resyncMs: 30_000 });
    this.proxy =
      o.proxyMode === 'iptables'
        ? new ServiceProxy(
            {
              services: () => this.services.list() as unknown as ServiceLike[],
              endpoints: () => endpointsFromSlices(this.endpointSlices.list() as unknown as EndpointSliceLike[], this.endpoints.list() as unknown as EndpointsLike[]),
              localPodCIDR: () => (this.nodes.get(o.nodeName)?.spec?.podCIDR as string | undefined) ?? o.podCIDR,
            },
            this.log.child({ component: 'proxy' }),
            o.nodeName,
          )
        : undefined;
    if (o.networkPolicy ?? o.proxyMode === 'iptables') {
      const inf = (r: Parameters<KubeClient['resource']>[0]) => new Informer<KubeObject>(this.client.resource(r), { backoffInitialMs: 200, backoffMaxMs: 5_000, resyncMs: 30_000 });
      const [pods, namespaces, policies] = [inf(Resources.pods), inf(Resources.namespaces), inf(resourceFor('networkpolicies', 'networking.k8s.io'))];
      this.netpolInformers.push(pods, namespaces, policies);
      this.netpol = new NetworkPolicyEnforcer(
        { pods: () => pods.list() as unknown as Pod[], namespaces: () => namespaces.list() as unknown as Namespace[], policies: () => policies.list() as unknown as NetworkPolicy[] },
        o.nodeName,
        this.log.child({ component: 'netpol' }),
      );
    }
  }

  get port(): number {
    return this.server.port;
  }

  async start(): Promise<void> {
    const o = this.o;
    // The root dir holds pod volumes (secrets) and the agent's key: 0700, tightened when found looser.
    mkdirSync(o.rootDir, { recursive: true, mode: 0o700 });
    const rootMode = statSync(o.rootDir).mode & 0o777;
    if (rootMode !== 0o700) {
      this.log.warn({ dir: o.rootDir, mode: `0${rootMode.toString(8)}` }, `root dir ${o.rootDir} had mode 0${rootMode.toString(8)}; setting 0700 to prevent unprivileged access to pod volumes`);
      chmodSync(o.rootDir, 0o700);
    }
    this.cri = await CriClient.connect(o.criEndpoint);
    const version = await this.cri.waitReady(30_000);
    const tls = 'cert' in o.tls ? o.tls : issueServingCert(join(o.rootDir, 'pki'), o.tls.caCertFile, o.tls.caKeyFile, o.nodeName, o.nodeIP);
    const clientCA = o.clientCA ?? o.clientConfig.ca?.toString() ?? ('caCertFile' in o.tls ? readFileSync(o.tls.caCertFile, 'utf8') : undefined);
    if (!clientCA) throw new CodedError('INVALID_FLAG', 'no CA to verify callers of the agent endpoint (--client-ca-file)');

    this.engine = new PodLifecycleEngine({
      nodeName: o.nodeName,
      nodeIP: o.nodeIP,
      cri: this.cri,
      api: this.api,
      rootDir: o.rootDir,
      podLogsDir: o.podLogsDir,
      cgroupRoot: o.cgroupRoot,
      logger: this.log,
      ...o.engine,
    });
    this.server = new AgentServer({
      nodeName: o.nodeName,
      port: o.port,
      tls: { ...tls, ca: clientCA },
      cri: this.cri,
      logs: (ns, name, container, opts) => this.engine.logs(ns, name, container, opts),
      logger: this.log,
      stats: new StatsSummaryProvider({ nodeName: o.nodeName, cgroupRoot: o.cgroupRoot ?? `/${o.nodeName}`, cri: { listPodSandbox: () => this.cri.listPodSandbox(), listContainers: () => this.cri.listContainers() } }),
    });
    await this.server.start();
    await this.startMetrics();

    const identity: NodeIdentity = {
      nodeName: o.nodeName,
      nodeIP: o.nodeIP,
      port: this.server.port,
      role: o.role,
      labels: o.labels ?? {},
      taints: o.taints ?? [],
      reserved: o.reserved ?? { cpuMilli: 0, memoryBytes: 0, ephemeralBytes: 0 },
      maxPods: o.maxPods,
      runtimeVersion: `${version.runtime_name}://${version.runtime_version}`,
    };
    this.heartbeat = new NodeHeartbeat({
      client: this.client,
      identity,
      rootDir: o.rootDir,
      podCIDR: o.podCIDR,
      cri: this.cri,
      leaseRenewMs: o.leaseRenewMs,
      statusUpdateMs: o.statusUpdateMs,
      logger: this.log,
      onNode: (n) => this.onOwnNode(n),
    });
    if (this.overlay) {
      this.podMtu = await this.overlay.podMtu();
      this.ensurePodMtu();
    }
    // Registration retries in the background: pods already running keep running.
    const registered = this.heartbeat.start();
    const syncRoutes = () => {
      if (this.overlay) void this.overlay.update(this.nodes.list() as unknown as OverlayNode[]);
      else if (o.manageRoutes !== false) void this.routes.update(this.nodes.list() as NodeLike[]);
    };
    this.nodes.addEventHandler({ add: syncRoutes, update: syncRoutes, delete: syncRoutes });
    this.nodes.start();
    if (o.localPathProvisioner !== false) {
      this.localPath = new LocalPathProvisioner({ client: this.client, nodeName: o.nodeName, rootDir: o.rootDir, log: this.log.child({ component: 'local-path-provisioner' }) });
      this.localPath.start();
    }
    if (this.proxy) {
      const syncServices = () => void this.proxy!.update();
      for (const inf of [this.services, this.endpoints, this.endpointSlices]) {
        inf.addEventHandler({ add: syncServices, update: syncServices, delete: syncServices });
        inf.start();
      }
    } else this.services.start();
    if (this.netpol) {
      const syncPolicies = () => void this.netpol!.update();
      for (const inf of this.netpolInformers) {
        inf.addEventHandler({ add: syncPolicies, update: syncPolicies, delete: syncPolicies });
        inf.start();
      }
    }
    if (o.lbAnnounce && this.proxy) {
      this.lbAnnouncer = new LbAnnouncer({
        nodeName: o.nodeName,
        nodeIP: o.nodeIP,
        log: this.log.child({ component: 'lb-announcer' }),
        services: () => this.services.list() as unknown as ServiceLike[],
        endpoints: () => endpointsFromSlices(this.endpointSlices.list() as unknown as EndpointSliceLike[], this.endpoints.list() as unknown as EndpointsLike[]),
        nodes: () => this.nodes.list() as unknown as AnnouncerNode[],
      });
      const announce = () => this.lbAnnouncer?.update();
      for (const inf of [this.services, this.endpointSlices, this.nodes]) inf.addEventHandler({ add: announce, update: announce, delete: announce });
      await this.lbAnnouncer.start().catch((err: unknown) => this.log.error({ err }, 'load-balancer announcer not started'));
    }
    // Containers get the Services' variables (KUBERNETES_SERVICE_HOST, ...) from this informer.
    this.api.serviceList = () => this.services.list() as unknown as EnvService[];
    await this.engine.start();
    await Promise.race([registered, new Promise((r) => setTimeout(r, 5_000))]);
    this.log.info({ node: o.nodeName, port: this.server.port, metricsPort: this.metricsPort, runtime: identity.runtimeVersion }, 'node agent started');
  }

  private onOwnNode(n: KubeObject): void {
    const cidr = (n.spec?.podCIDR as string | undefined) ?? this.o.podCIDR;
    if (this.o.cniConfDir && cidr) {
      try {
        if (ensureCniConfig({ confDir: this.o.cniConfDir, networkName: this.o.nodeName, bridge: this.o.cniBridge ?? 'cni-mk0', podCIDR: cidr, ipamDataDir: join(this.o.rootDir, 'cni', 'ipam') })) {
          this.log.info({ cidr, dir: this.o.cniConfDir }, 'CNI config written');
        }
      } catch (err) {
        this.log.warn({ err: String(err) }, 'CNI config not written');
      }
      this.ensurePodMtu();
    }
  }

  /** The pods' MTU in the node's mkube conflist (vxlan/auto mode). */
  private ensurePodMtu(): void {
    if (!this.o.cniConfDir || this.podMtu === undefined) return;
    try {
      if (ensureCniMtu(this.o.cniConfDir, this.podMtu)) this.log.info({ mtu: this.podMtu, dir: this.o.cniConfDir }, 'pod MTU set in the CNI config');
    } catch (err) {
      this.log.warn({ err }, 'pod MTU not set in the CNI config');
    }
  }

  /** /metrics and /healthz, /livez, /readyz (@mkube/component-base's server) unless the port is negative. */
  private async startMetrics(): Promise<void> {
    if (this.o.metricsPort === undefined || this.o.metricsPort < 0) return;
    const registry = agentMetrics({
      runningPods: () => this.engine?.podUids().length ?? 0,
      statusWrites: () => this.api.statusWrites,
      statusWriteFailures: () => this.api.statusWriteFailures,
      leaseRenewals: () => this.heartbeat?.leaseRenewals ?? 0,
      nodeStatusUpdates: () => this.heartbeat?.statusUpdates ?? 0,
      routeSyncs: () => this.routes.syncs,
      routeRefused: () => this.routes.refused + (this.overlay?.refused ?? 0),
      proxy: this.proxy && { syncs: () => this.proxy!.syncs, failures: () => this.proxy!.failures, refused: () => this.proxy!.refused },
      netpol: this.netpol && { syncs: () => this.netpol!.syncs, failures: () => this.netpol!.failures, refused: () => this.netpol!.refused },
      startedAtMs: this.startedAt,
      now: () => Date.now(),
    });
    this.metricsServer = new ComponentServer({ registry, log: this.log });
    this.metricsPort = await this.metricsServer.listen(this.o.metricsPort, this.o.metricsBindAddress ?? '127.0.0.1');
  }

  /** Stops everything; running pods keep running. */
  async stop(): Promise<void> {
    this.heartbeat?.stop();
    this.lbAnnouncer?.stop();
    this.localPath?.stop();
    // The policy chains stay (netpol/netpol_enforcer.ts): only the informers stop.
    for (const inf of this.netpolInformers) inf.stop();
    this.nodes.stop();
    if (this.proxy) {
      this.services.stop();
      this.endpoints.stop();
      this.endpointSlices.stop();
      await this.proxy.stop();
    }
    await this.engine?.stop();
    this.api.stop();
    await this.server?.stop();
    await this.metricsServer?.close();
    this.cri?.close();
    this.client.close();
  }
}
