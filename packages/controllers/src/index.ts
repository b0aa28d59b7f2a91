export * from './types.js';
export { ControllerManager, CONTROLLERS, ALL_CONTROLLERS, selectControllers, ConfigError, type ManagerOptions } from './manager.js';
export { reconcileReplicaSet, claimPods, podFromTemplate, replicaSetStatus, type ReplicaSetInput, type ReplicaSetPlan } from './replicaset/reconcile.js';
export { podsToDelete, comparePodsForDeletion } from './replicaset/ranking.js';
export { REPLICA_SET, REPLICATION_CONTROLLER, type SetFlavor } from './replicaset/flavor.js';
export { reconcileDeployment, claimReplicaSets, type DeploymentInput, type DeploymentPlan } from './deployment/reconcile.js';
export * as deploymentUtil from './deployment/util.js';
export { reconcileEndpoints, computeSubsets, resolveTargetPort } from './endpoints/reconcile.js';
export { reconcileNode, tolerationSecondsFor, TAINT_UNREACHABLE, type NodeHealth } from './nodelifecycle/reconcile.js';
export { reconcileGc, FINALIZER_FOREGROUND, FINALIZER_ORPHAN, type OwnerState } from './gc/reconcile.js';
export { reconcileNamespace } from './namespace/reconcile.js';
export { CidrSet, CidrError, DEFAULT_CLUSTER_CIDR, DEFAULT_RESERVED_CIDRS } from './ipam/cidr_set.js';
export { reconcileNodeCidr, recoverAllocations } from './ipam/reconcile.js';
export { Expectations } from './expectations.js';
export { systemClock, FakeClock, type Clock } from './util/time.js';
// For the cloud controller manager (packages/cloud-controller-manager): events as the controllers write them, IPv4 parsing.
export { EventRecorder, newEvent, type EventSpec } from './runtime/events.js';
export { parseIPv4, parseCidr, formatIPv4 } from './ipam/cidr_set.js';
