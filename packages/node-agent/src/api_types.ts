// The node agent's view of the one object model (@mkube/api's generated
// types): re-exported as they are, with AgentPod, AgentConfigMap and
// AgentSecret the Pod, ConfigMap and Secret narrowed to what the agent
// handles — objects from the API server, whose name and uid are set, and
// pods with a spec.
import type { PodSpec, WrittenPodCondition } from '@mkube/api';
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

export type { ContainerStatus, WrittenPodCondition } from '@mkube/api';

export type AgentPodStatus = Omit<api.PodStatus, 'conditions'> & { conditions?: WrittenPodCondition[] };

export type AgentPod = Omit<api.Pod, 'metadata' | 'spec' | 'status'> & { metadata: AgentObjectMeta; spec: PodSpec; status?: AgentPodStatus };
export type AgentConfigMap = Omit<api.ConfigMap, 'metadata'> & { metadata: AgentObjectMeta };
export type AgentSecret = Omit<api.Secret, 'metadata'> & { metadata: AgentObjectMeta };

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
export type ConditionStatus = 'True' | 'False' | 'Unknown';
/** An Event's type (core/v1 EventTypeNormal / EventTypeWarning). */
export type EventType = 'Normal' | 'Warning';
