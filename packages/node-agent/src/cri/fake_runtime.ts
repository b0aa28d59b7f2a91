// FakeRuntime: a test double of the container runtime (the CriRuntime subset
// of CRI) kept entirely in memory — no containerd, no root. Sandboxes and
// containers go through CRI's states (created → running → exited; ready →
// notready) and removal; tests make containers exit, sandboxes die, states
// turn unknown, exec probes answer and calls fail, and read back the calls
// made. Errors are CriErrors with gRPC codes as containerd's (NOT_FOUND).
import type { Clock } from '../clock.js';
import type { CallOptions } from './cri_client.js';
import { CriError, type CriErrorCode } from './cri_error.js';
import type { CriRuntime } from './cri_runtime.js';
import type {
  CriContainer,
  ContainerConfig,
  ContainerFilter,
  CriContainerState,
  ContainerStatusResponse,
  DeepPartial,
  ExecSyncResponse,
  ImageSpec,
  ImageStatusResponse,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStatusResponse,
  AuthConfig,
} from './types.js';

const ADDRESS = 'fake://runtime';

interface FakeSandbox {
  id: string;
  config: DeepPartial<PodSandboxConfig>;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  createdAt: number;
  ip: string;
}

interface FakeContainer {
  id: string;
  sandboxId: string;
  config: DeepPartial<ContainerConfig>;
  state: CriContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
}

/** What an exec (probe or hook) in a container answers. */
export type ExecHandler = (containerId: string, cmd: string[]) => { exitCode: number; stdout?: string; stderr?: string };

const msToNs = (ms: number): string => (ms === 0 ? '0' : String(BigInt(ms) * 1_000_000n));

function matches(labels: Record<string, string> | undefined, selector: DeepPartial<Record<string, string>> | null | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

export class FakeRuntime implements CriRuntime {
  private readonly sandboxes = new Map<string, FakeSandbox>();
  private readonly containers = new Map<string, FakeContainer>();
  private readonly images = new Map<string, string>();
  private readonly failures = new Map<string, { code: CriErrorCode; details: string; times: number }>();
  private seq = 0;
  private lastTime = 0;
  /** Every call, as "Method id-or-name". */
  readonly calls: string[] = [];
  /** Answers ExecSync (probes and exec hooks); default: exit 0. */
  execHandler: ExecHandler = () => ({ exitCode: 0 });

  constructor(
    private readonly clock: Clock = { now: () => Date.now(), setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); return { cancel: () => clearTimeout(t) }; } },
    images: string[] = ['busybox'],
  ) {
    for (const i of images) this.images.set(i, `sha256:${i.replace(/[^a-z0-9]/g, '')}`);
  }

  // ------------------------------------------------------------ test controls

  /** The next `times` calls of method fail with code. */
  failNext(method: string, code: CriErrorCode = 'UNAVAILABLE', details = 'injected failure', times = 1): void {
    this.failures.set(method, { code, details, times });
  }

  /** The container's process ends with exitCode (reason as containerd: Completed / Error / OOMKilled). */
  exitContainer(id: string, exitCode: number, reason = exitCode === 0 ? 'Completed' : 'Error'): void {
    const c = this.mustContainer('test.exitContainer', id);
    c.state = 'CONTAINER_EXITED';
    c.exitCode = exitCode;
    c.reason = reason;
    c.finishedAt = this.now();
  }

  /** The runtime no longer knows the container's state. */
  makeUnknown(id: string): void {
    this.mustContainer('test.makeUnknown', id).state = 'CONTAINER_UNKNOWN';
  }

  /** The sandbox dies (its network namespace is gone): not ready, its containers exit. */
  killSandbox(id: string): void {
    const sb = this.mustSandbox('test.killSandbox', id);
    sb.state = 'SANDBOX_NOTREADY';
    for (const c of this.containers.values()) if (c.sandboxId === id && c.state === 'CONTAINER_RUNNING') this.exitContainer(c.id, 137, 'Error');
  }

  /** Containers of a pod uid (any sandbox) with their names and states, oldest first. */
  podContainers(uid: string): { id: string; name: string; state: CriContainerState; attempt: number; kind: string }[] {
    return [...this.containers.values()]
      .filter((c) => c.config.labels?.['io.kubernetes.pod.uid'] === uid)
      .map((c) => ({ id: c.id, name: c.config.metadata?.name ?? '', state: c.state, attempt: c.config.metadata?.attempt ?? 0, kind: c.config.annotations?.['mkube.io/container-kind'] ?? 'regular' }));
  }

  podSandboxes(uid: string): { id: string; state: string; attempt: number }[] {
    return [...this.sandboxes.values()]
      .filter((s) => s.config.metadata?.uid === uid || s.config.labels?.['io.kubernetes.pod.uid'] === uid)
      .map((s) => ({ id: s.id, state: s.state, attempt: s.config.metadata?.attempt ?? 0 }));
  }

  /** Number of sandboxes and containers held (any state). */
  get size(): { sandboxes: number; containers: number } {
    return { sandboxes: this.sandboxes.size, containers: this.containers.size };
  }

  // ------------------------------------------------------------ CRI

  async runPodSandbox(config: DeepPartial<PodSandboxConfig>, _runtimeHandler = '', _opts?: CallOptions): Promise<string> {
    this.enter('RunPodSandbox', config.metadata?.name ?? '');
    const id = this.newId('sb');
    const hostNetwork = config.linux?.security_context?.namespace_options?.network === 'NODE';
    this.sandboxes.set(id, { id, config, state: 'SANDBOX_READY', createdAt: this.now(), ip: hostNetwork ? '' : `10.88.0.${(this.seq % 250) + 2}` });
    return id;
  }

  async stopPodSandbox(id: string, _opts?: CallOptions): Promise<void> {
    this.enter('StopPodSandbox', id);
    const sb = this.mustSandbox('StopPodSandbox', id);
    for (const c of this.containers.values()) if (c.sandboxId === id && c.state === 'CONTAINER_RUNNING') this.exitContainer(c.id, 137, 'Error');
    sb.state = 'SANDBOX_NOTREADY';
  }

  async removePodSandbox(id: string, _opts?: CallOptions): Promise<void> {
    this.enter('RemovePodSandbox', id);
    // containerd: removing an unknown sandbox is not an error.
    if (!this.sandboxes.has(id)) return;
    for (const c of [...this.containers.values()]) if (c.sandboxId === id) this.containers.delete(c.id);
    this.sandboxes.delete(id);
  }

  async podSandboxStatus(id: string, _verbose = false, _opts?: CallOptions): Promise<PodSandboxStatusResponse> {
    this.enter('PodSandboxStatus', id);
    const sb = this.mustSandbox('PodSandboxStatus', id);
    return {
      status: {
        id,
        metadata: { name: sb.config.metadata?.name ?? '', uid: sb.config.metadata?.uid ?? '', namespace: sb.config.metadata?.namespace ?? '', attempt: sb.config.metadata?.attempt ?? 0 },
        state: sb.state,
        created_at: msToNs(sb.createdAt),
        network: { ip: sb.state === 'SANDBOX_READY' ? sb.ip : '', additional_ips: [] },
        linux: null,
        labels: { ...(sb.config.labels as Record<string, string>) },
        annotations: { ...(sb.config.annotations as Record<string, string>) },
        runtime_handler: '',
      },
      info: {},
      containers_statuses: [],
      timestamp: msToNs(this.now()),
    };
  }

  async listPodSandbox(filter?: DeepPartial<PodSandboxFilter>, _opts?: CallOptions): Promise<PodSandbox[]> {
    this.enter('ListPodSandbox', '');
    return [...this.sandboxes.values()]
      .filter((s) => (!filter?.id || s.id === filter.id) && (!filter?.state?.state || s.state === filter.state.state) && matches(s.config.labels as Record<string, string>, filter?.label_selector))
      .map((s) => ({
        id: s.id,
        metadata: { name: s.config.metadata?.name ?? '', uid: s.config.metadata?.uid ?? '', namespace: s.config.metadata?.namespace ?? '', attempt: s.config.metadata?.attempt ?? 0 },
        state: s.state,
        created_at: msToNs(s.createdAt),
        labels: { ...(s.config.labels as Record<string, string>) },
        annotations: { ...(s.config.annotations as Record<string, string>) },
        runtime_handler: '',
      }));
  }

  async createContainer(sandboxId: string, config: DeepPartial<ContainerConfig>, _sandboxConfig: DeepPartial<PodSandboxConfig>, _opts?: CallOptions): Promise<string> {
    this.enter('CreateContainer', config.metadata?.name ?? '');
    const sb = this.mustSandbox('CreateContainer', sandboxId);
    if (sb.state !== 'SANDBOX_READY') throw new CriError('FAILED_PRECONDITION', 'CreateContainer', ADDRESS, `sandbox ${sandboxId} is not ready`);
    const id = this.newId('c');
    this.containers.set(id, { id, sandboxId, config, state: 'CONTAINER_CREATED', createdAt: this.now(), startedAt: 0, finishedAt: 0, exitCode: 0, reason: '' });
    return id;
  }

  async startContainer(id: string, _opts?: CallOptions): Promise<void> {
    this.enter('StartContainer', id);
    const c = this.mustContainer('StartContainer', id);
    if (c.state !== 'CONTAINER_CREATED') throw new CriError('FAILED_PRECONDITION', 'StartContainer', ADDRESS, `container ${id} is in ${c.state} state`);
    c.state = 'CONTAINER_RUNNING';
    c.startedAt = this.now();
  }

  async stopContainer(id: string, _timeoutSeconds = 0, _opts?: CallOptions): Promise<void> {
    this.enter('StopContainer', id);
    const c = this.mustContainer('StopContainer', id);
    if (c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_UNKNOWN') this.exitContainer(id, 137, 'Error');
  }

  async removeContainer(id: string, _opts?: CallOptions): Promise<void> {
    this.enter('RemoveContainer', id);
    const c = this.containers.get(id);
    if (!c) return; // containerd: removing an unknown container is not an error
    if (c.state === 'CONTAINER_RUNNING') throw new CriError('UNKNOWN', 'RemoveContainer', ADDRESS, `container ${id} is running, stop it first`);
    this.containers.delete(id);
  }

  async listContainers(filter?: DeepPartial<ContainerFilter>, _opts?: CallOptions): Promise<CriContainer[]> {
    this.enter('ListContainers', '');
    return [...this.containers.values()]
      .filter(
        (c) =>
          (!filter?.id || c.id === filter.id) &&
          (!filter?.pod_sandbox_id || c.sandboxId === filter.pod_sandbox_id) &&
          (!filter?.state?.state || c.state === filter.state.state) &&
          matches(c.config.labels as Record<string, string>, filter?.label_selector),
      )
      .map((c) => ({
        id: c.id,
        pod_sandbox_id: c.sandboxId,
        metadata: { name: c.config.metadata?.name ?? '', attempt: c.config.metadata?.attempt ?? 0 },
        image: { image: c.config.image?.image ?? '', annotations: {}, user_specified_image: '', runtime_handler: '' },
        image_ref: this.images.get(c.config.image?.image ?? '') ?? '',
        state: c.state,
        created_at: msToNs(c.createdAt),
        labels: { ...(c.config.labels as Record<string, string>) },
        annotations: { ...(c.config.annotations as Record<string, string>) },
        image_id: '',
      }));
  }

  async containerStatus(id: string, _verbose = false, _opts?: CallOptions): Promise<ContainerStatusResponse> {
    this.enter('ContainerStatus', id);
    const c = this.mustContainer('ContainerStatus', id);
    return {
      status: {
        id,
        metadata: { name: c.config.metadata?.name ?? '', attempt: c.config.metadata?.attempt ?? 0 },
        state: c.state,
        created_at: msToNs(c.createdAt),
        started_at: msToNs(c.startedAt),
        finished_at: msToNs(c.finishedAt),
        exit_code: c.exitCode,
        image: { image: c.config.image?.image ?? '', annotations: {}, user_specified_image: '', runtime_handler: '' },
        image_ref: this.images.get(c.config.image?.image ?? '') ?? '',
        reason: c.reason,
        message: '',
        labels: { ...(c.config.labels as Record<string, string>) },
        annotations: { ...(c.config.annotations as Record<string, string>) },
        mounts: [],
        log_path: c.config.log_path ?? '',
        resources: null,
        image_id: '',
        user: null,
        image_source: '',
      },
      info: {},
    };
  }

  async execSync(id: string, cmd: string[], _timeoutSeconds = 0, _opts?: CallOptions): Promise<ExecSyncResponse> {
    this.enter('ExecSync', id);
    const c = this.mustContainer('ExecSync', id);
    if (c.state !== 'CONTAINER_RUNNING') throw new CriError('UNKNOWN', 'ExecSync', ADDRESS, `container ${id} is not running`);
    const r = this.execHandler(id, cmd);
    return { exit_code: r.exitCode, stdout: Buffer.from(r.stdout ?? ''), stderr: Buffer.from(r.stderr ?? '') };
  }

  async imageStatus(image: string | DeepPartial<ImageSpec>, _verbose = false, _opts?: CallOptions): Promise<ImageStatusResponse> {
    const name = typeof image === 'string' ? image : (image.image ?? '');
    this.enter('ImageStatus', name);
    const id = this.images.get(name);
    return {
      image: id ? { id, repo_tags: [name], repo_digests: [], size: '0', uid: null, username: '', spec: null, pinned: false, image_source: '' } : null,
      info: {},
    };
  }

  async pullImage(image: string | DeepPartial<ImageSpec>, _auth?: DeepPartial<AuthConfig>, _sandboxConfig?: DeepPartial<PodSandboxConfig>, _opts?: CallOptions): Promise<string> {
    const name = typeof image === 'string' ? image : (image.image ?? '');
    this.enter('PullImage', name);
    const id = this.images.get(name);
    if (!id) throw new CriError('NOT_FOUND', 'PullImage', ADDRESS, `failed to resolve reference "${name}": not found`);
    return id;
  }

  // ------------------------------------------------------------ plumbing

  private enter(method: string, what: string): void {
    this.calls.push(what ? `${method} ${what}` : method);
    const f = this.failures.get(method);
    if (f && f.times > 0) {
      f.times--;
      if (f.times === 0) this.failures.delete(method);
      throw new CriError(f.code, method, ADDRESS, f.details);
    }
  }

  /** Strictly increasing clock ms, so instances order by creation. */
  private now(): number {
    this.lastTime = Math.max(this.clock.now(), this.lastTime + 1);
    return this.lastTime;
  }

  private newId(prefix: string): string {
    return `${prefix}${(++this.seq).toString(16).padStart(8, '0')}`;
  }

  private mustSandbox(method: string, id: string): FakeSandbox {
    const sb = this.sandboxes.get(id);
    if (!sb) throw new CriError('NOT_FOUND', method, ADDRESS, `an error occurred when try to find sandbox "${id}": not found`);
    return sb;
  }

  private mustContainer(method: string, id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new CriError('NOT_FOUND', method, ADDRESS, `an error occurred when try to find container "${id}": not found`);
    return c;
  }
}
