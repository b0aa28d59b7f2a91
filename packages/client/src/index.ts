export { loadKubeconfig, KubeconfigError, SERVERS_EXTENSION, serversExtension, type ClientConfig } from './config.js';
export { ApiError, type Status } from './errors.js';
export { Resources, resourcePath, apiVersionOf, type GVR } from './resources.js';
export {
  KubeClient,
  RequestError,
  type FailoverEvent,
  type KubeObject,
  type ListOptions,
  type WatchOptions,
  type WatchEventType,
  type WatchHandle,
  type DeleteOptions,
  type PatchType,
  type ResourceClient,
} from './client.js';
export { Informer, keyOf, type InformerOptions, type EventHandler } from './informer.js';
export { WorkQueue, type WorkQueueOptions } from './workqueue.js';
export { LeaderElector, type LeaderElectorOptions } from './leader.js';
export { runClientComponent, exitOnHelp, type ClientComponentMain, type StartedComponent } from './component_main.js';
export { followKubeconfigCertificate, type CertificateReloadOptions } from './certificate_reload.js';
