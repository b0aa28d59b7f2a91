// The node agent's view of the one object model (@mkube/api's generated
// types): re-exported as they are, with Pod, ConfigMap and Secret narrowed
// to what the agent handles — objects from the API server, whose name and
// uid are set, and pods with a spec.
import type { PodSpec } from '@mkube/api';
import type * as api from '@mkube/api';

export type {
  ConfigMapVolumeSource,
  Container,
  ContainerPort,
  ContainerState,
  ContainerStateRunning,
  ContainerStateTerminated,
  ContainerStateWaiting,
  EnvFromSource,
  EnvVar,
  ExecAction,
  HTTPGetAction,
  IntOrString,
  KeyToPath,
  Lifecycle,
  LifecycleHandler,
  ObjectReference,
  PodDNSConfig,
  PodSecurityContext,
  Probe,
  ProbeHandler,
  ResourceRequirements,
  SecretVolumeSource,
  SecurityContext,
  TCPSocketAction,
  Volume,
  VolumeMount,
} from '@mkube/api';

/** Metadata of an object read from the API server: name and uid are set. */
export type AgentObjectMeta = api.ObjectMeta & { name: string; uid: string };

export type { PodSpec };

export type ContainerStatus = api.ContainerStatus;
/** lastProbeTime is written as null, as Go marshals a zero metav1.Time. */
export type PodCondition = Omit<api.PodCondition, 'lastProbeTime'> & { lastProbeTime?: string | null };

export type PodStatus = Omit<api.PodStatus, 'conditions'> & { conditions?: PodCondition[] };

export type Pod = Omit<api.Pod, 'metadata' | 'spec' | 'status'> & { metadata: AgentObjectMeta; spec: PodSpec; status?: PodStatus };
export type ConfigMap = Omit<api.ConfigMap, 'metadata'> & { metadata: AgentObjectMeta };
export type Secret = Omit<api.Secret, 'metadata'> & { metadata: AgentObjectMeta };

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
export type ConditionStatus = 'True' | 'False' | 'Unknown';
/** An Event's type (core/v1 EventTypeNormal / EventTypeWarning). */
export type EventType = 'Normal' | 'Warning';
