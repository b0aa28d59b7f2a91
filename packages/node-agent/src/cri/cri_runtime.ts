// The part of the CRI client the pod lifecycle engine uses: implemented by
// CriClient (containerd over gRPC) and, in memory, by FakeRuntime.
import type { CriClient } from './cri_client.js';

export type CriRuntime = Pick<
  CriClient,
  | 'runPodSandbox'
  | 'stopPodSandbox'
  | 'removePodSandbox'
  | 'podSandboxStatus'
  | 'listPodSandbox'
  | 'createContainer'
  | 'startContainer'
  | 'stopContainer'
  | 'removeContainer'
  | 'listContainers'
  | 'containerStatus'
  | 'execSync'
  | 'imageStatus'
  | 'pullImage'
>;
