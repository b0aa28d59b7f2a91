export { CriClient, type CriClientOptions, type CallOptions } from './cri/cri_client.js';
export { CriError, type CriErrorCode } from './cri/cri_error.js';
export { parseCriLog, parseCriLogRecord, type CriLogLine, type CriLogRecord } from './cri/cri_log.js';
export { criProtoPath } from './cri/proto_path.js';
export type * from './cri/types.js';
export { PodLifecycleEngine, type PodLifecycleEngineOptions } from './sync.js';
export {
  InMemoryApiPort,
  type ApiPort,
  type ConfigSource,
  type PodEvent,
  type PodEventType,
  type PodSource,
  type StatusSink,
  type RecordedEvent,
  type StatusWrite,
} from './api_port.js';
export { PodWorker, type CriRuntime, type WorkerDeps } from './pod_worker.js';
export { computePodStatus, podPhase, statusEqual, type ObservedContainer, type ObservedSandbox, type StatusInput } from './status.js';
export { readContainerLogs, containerLogFiles, LogNotFoundError, type LogOptions } from './logs.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { silentLogger, type Logger } from './logger.js';
export type { Summary, PodStats, ContainerStats, CPUStats, MemoryStats } from './server/stats_summary.js';
export { KUBERNETES_CRASH_BACKOFF, type BackoffConfig } from './runtime/backoff.js';
export type * as k8s from './api_types.js';
export { addressesToAnnounce, electAnnouncer, type ElectionNode } from './lb_election.js';
