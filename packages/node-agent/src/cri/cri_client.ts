import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CriError } from './cri_error.js';
import { criProtoPath } from './proto_path.js';
import type {
  AttachRequest,
  AuthConfig,
  CriContainer,
  ContainerConfig,
  ContainerFilter,
  ContainerStatusResponse,
  DeepPartial,
  ExecRequest,
  ExecSyncResponse,
  Image,
  ImageFsInfoResponse,
  ImageSpec,
  ImageStatusResponse,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStatusResponse,
  StatusResponse,
  VersionResponse,
} from './types.js';

/** proto-loader options that CRI needs (see docs: nanosecond int64s, enum names). */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface CriClientOptions {
  /** Default deadline of a call in ms (default 60 000). */
  defaultTimeoutMs?: number;
  /** Path of api.proto (default: proto/cri/api.proto of this repository). */
  protoPath?: string;
}

export interface CallOptions {
  /** Deadline of this call in ms. */
  timeoutMs?: number;
}

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

type ServiceCtor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions) => grpc.Client;

const definitions = new Map<string, Promise<{ runtime: ServiceCtor; image: ServiceCtor }>>();

function loadServices(protoPath: string): Promise<{ runtime: ServiceCtor; image: ServiceCtor }> {
  let p = definitions.get(protoPath);
  if (!p) {
    p = protoLoader.load(protoPath, LOADER_OPTIONS).then((def) => {
      const pkg = grpc.loadPackageDefinition(def) as unknown as {
        runtime: { v1: { RuntimeService: ServiceCtor; ImageService: ServiceCtor } };
      };
      return { runtime: pkg.runtime.v1.RuntimeService, image: pkg.runtime.v1.ImageService };
    });
    p.catch(() => definitions.delete(protoPath));
    definitions.set(protoPath, p);
  }
  return p;
}

/**
 * A promise-based client of a CRI runtime (runtime.v1 RuntimeService and
 * ImageService) over a unix socket. Every call has a deadline; failures are
 * CriError with the gRPC status name as code.
 *
 *   const cri = await CriClient.connect('unix:///var/lib/mkube-lab/mk/w1/containerd.sock');
 *   const id = await cri.runPodSandbox(config);
 */
export class CriClient {
  private closed = false;

  private constructor(
    readonly address: string,
    private readonly runtime: grpc.Client,
    private readonly image: grpc.Client,
    private readonly defaultTimeoutMs: number,
  ) {}

  /**
   * Creates a client for `address` ("unix:///abs/path" or an absolute socket
   * path). Does not wait for the runtime: see waitReady().
   */
  static async connect(address: string, options: CriClientOptions = {}): Promise<CriClient> {
    const target = address.startsWith('/') ? `unix://${address}` : address;
    const { runtime, image } = await loadServices(options.protoPath ?? criProtoPath());
    const creds = grpc.credentials.createInsecure();
    const channelOptions: grpc.ClientOptions = {
      'grpc.max_receive_message_length': 32 * 1024 * 1024,
      'grpc.enable_channelz': 0,
    };
    const rt = new runtime(target, creds, channelOptions);
    // Share one channel between both services.
    const img = new image(target, creds, { ...channelOptions, channelOverride: rt.getChannel() });
    return new CriClient(target, rt, img, options.defaultTimeoutMs ?? 60_000);
  }

  /** Polls Version until the runtime answers, up to timeoutMs. */
  async waitReady(timeoutMs = 30_000): Promise<VersionResponse> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        return await this.version({ timeoutMs: Math.max(100, Math.min(2_000, deadline - Date.now())) });
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new CriError('NOT_READY', 'Version', this.address, `runtime not ready after ${timeoutMs} ms: ${String(last)}`, {
      cause: last,
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.image.close();
    this.runtime.close();
  }

  // ------------------------------------------------------------ RuntimeService

  version(opts?: CallOptions): Promise<VersionResponse> {
    return this.rt('Version', { version: 'v1' }, opts);
  }

  async status(verbose = false, opts?: CallOptions): Promise<StatusResponse> {
    return this.rt('Status', { verbose }, opts);
  }

  /** Creates and starts a pod sandbox; returns its id. */
  async runPodSandbox(config: DeepPartial<PodSandboxConfig>, runtimeHandler = '', opts?: CallOptions): Promise<string> {
    const res = await this.rt<{ pod_sandbox_id: string }>(
      'RunPodSandbox',
      { config, runtime_handler: runtimeHandler },
      { timeoutMs: 120_000, ...opts },
    );
    return res.pod_sandbox_id;
  }

  async stopPodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void> {
    await this.rt('StopPodSandbox', { pod_sandbox_id: podSandboxId }, opts);
  }

  async removePodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void> {
    await this.rt('RemovePodSandbox', { pod_sandbox_id: podSandboxId }, opts);
  }

  podSandboxStatus(podSandboxId: string, verbose = false, opts?: CallOptions): Promise<PodSandboxStatusResponse> {
    return this.rt('PodSandboxStatus', { pod_sandbox_id: podSandboxId, verbose }, opts);
  }

  async listPodSandbox(filter?: DeepPartial<PodSandboxFilter>, opts?: CallOptions): Promise<PodSandbox[]> {
    const res = await this.rt<{ items: PodSandbox[] }>('ListPodSandbox', { filter: filter ?? null }, opts);
    return res.items;
  }

  /** Creates a container in a sandbox; returns its id. */
  async createContainer(
    podSandboxId: string,
    config: DeepPartial<ContainerConfig>,
    sandboxConfig: DeepPartial<PodSandboxConfig>,
    opts?: CallOptions,
  ): Promise<string> {
    const res = await this.rt<{ container_id: string }>(
      'CreateContainer',
      { pod_sandbox_id: podSandboxId, config, sandbox_config: sandboxConfig },
      opts,
    );
    return res.container_id;
  }

  async startContainer(containerId: string, opts?: CallOptions): Promise<void> {
    await this.rt('StartContainer', { container_id: containerId }, opts);
  }

  /** Stops a container: SIGTERM (or the image's stop signal), SIGKILL after timeoutSeconds. */
  async stopContainer(containerId: string, timeoutSeconds = 0, opts?: CallOptions): Promise<void> {
    await this.rt(
      'StopContainer',
      { container_id: containerId, timeout: String(timeoutSeconds) },
      { timeoutMs: timeoutSeconds * 1000 + 30_000, ...opts },
    );
  }

  async removeContainer(containerId: string, opts?: CallOptions): Promise<void> {
    await this.rt('RemoveContainer', { container_id: containerId }, opts);
  }

  async listContainers(filter?: DeepPartial<ContainerFilter>, opts?: CallOptions): Promise<CriContainer[]> {
    const res = await this.rt<{ containers: CriContainer[] }>('ListContainers', { filter: filter ?? null }, opts);
    return res.containers;
  }

  containerStatus(containerId: string, verbose = false, opts?: CallOptions): Promise<ContainerStatusResponse> {
    return this.rt('ContainerStatus', { container_id: containerId, verbose }, opts);
  }

  /**
   * Runs a command in a container and waits for it. timeoutSeconds 0 means no
   * runtime timeout (the gRPC deadline still applies).
   */
  execSync(containerId: string, cmd: string[], timeoutSeconds = 0, opts?: CallOptions): Promise<ExecSyncResponse> {
    return this.rt(
      'ExecSync',
      { container_id: containerId, cmd, timeout: String(timeoutSeconds) },
      { timeoutMs: (timeoutSeconds > 0 ? timeoutSeconds * 1000 : this.defaultTimeoutMs) + 10_000, ...opts },
    );
  }

  /** Prepares a streaming exec; returns the runtime's streaming URL. */
  async exec(req: DeepPartial<ExecRequest>, opts?: CallOptions): Promise<string> {
    return (await this.rt<{ url: string }>('Exec', req, opts)).url;
  }

  /** Prepares a streaming attach; returns the runtime's streaming URL. */
  async attach(req: DeepPartial<AttachRequest>, opts?: CallOptions): Promise<string> {
    return (await this.rt<{ url: string }>('Attach', req, opts)).url;
  }

  /** Prepares a port forward into a sandbox; returns the streaming URL. */
  async portForward(podSandboxId: string, ports: number[], opts?: CallOptions): Promise<string> {
    return (await this.rt<{ url: string }>('PortForward', { pod_sandbox_id: podSandboxId, port: ports }, opts)).url;
  }

  // ------------------------------------------------------------ ImageService

  async listImages(filter?: DeepPartial<ImageSpec>, opts?: CallOptions): Promise<Image[]> {
    const res = await this.img<{ images: Image[] }>('ListImages', { filter: filter ? { image: filter } : null }, opts);
    return res.images;
  }

  /** The image, or null when the runtime does not have it. */
  async imageStatus(image: string | DeepPartial<ImageSpec>, verbose = false, opts?: CallOptions): Promise<ImageStatusResponse> {
    return this.img('ImageStatus', { image: typeof image === 'string' ? { image } : image, verbose }, opts);
  }

  /** Pulls an image; returns the image reference (id) the runtime resolved. */
  async pullImage(
    image: string | DeepPartial<ImageSpec>,
    auth?: DeepPartial<AuthConfig>,
    sandboxConfig?: DeepPartial<PodSandboxConfig>,
    opts?: CallOptions,
  ): Promise<string> {
    const res = await this.img<{ image_ref: string }>(
      'PullImage',
      { image: typeof image === 'string' ? { image } : image, auth: auth ?? null, sandbox_config: sandboxConfig ?? null },
      { timeoutMs: 600_000, ...opts },
    );
    return res.image_ref;
  }

  async removeImage(image: string | DeepPartial<ImageSpec>, opts?: CallOptions): Promise<void> {
    await this.img('RemoveImage', { image: typeof image === 'string' ? { image } : image }, opts);
  }

  imageFsInfo(opts?: CallOptions): Promise<ImageFsInfoResponse> {
    return this.img('ImageFsInfo', {}, opts);
  }

  // ------------------------------------------------------------ plumbing

  private rt<T>(method: string, req: unknown, opts?: CallOptions): Promise<T> {
    return this.unary<T>(this.runtime, method, req, opts);
  }

  private img<T>(method: string, req: unknown, opts?: CallOptions): Promise<T> {
    return this.unary<T>(this.image, method, req, opts);
  }

  private unary<T>(client: grpc.Client, method: string, req: unknown, opts?: CallOptions): Promise<T> {
    if (this.closed) {
      return Promise.reject(new CriError('CLOSED', method, this.address, 'client is closed'));
    }
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (typeof fn !== 'function') {
      return Promise.reject(new CriError('UNIMPLEMENTED', method, this.address, 'method not in api.proto'));
    }
    const deadline = Date.now() + (opts?.timeoutMs ?? this.defaultTimeoutMs);
    return new Promise<T>((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline }, (err, res) => {
        if (err) reject(CriError.fromGrpc(method, this.address, err));
        else resolve(res as T);
      });
    });
  }
}
