/**
 * Data: the fields upstream's protobuf encoding writes even when zero — Go
 * struct fields whose type is not a pointer (gogo-generated marshallers
 * always write them: `int32` as 0, `string` as "", `bool` as false, an
 * embedded struct as a possibly empty message, a zero metav1.Time as an
 * empty message, time_proto.go). Pointer fields (`*int32`,
 * `*LabelSelector`), lists and maps are written only when set, so they are
 * not listed.
 *
 * Source: hand-checked against the Go types in kubernetes/kubernetes
 * staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/types.go and
 * staging/src/k8s.io/api/apps/v1/types.go and batch/v1/types.go (the Go type
 * with or without `*`; batch's fields newer than the copy read — managedBy,
 * successPolicy, backoffLimitPerIndex, terminating, failedIndexes... — are
 * pointers and stay unwritten when unset).
 * Covers meta/v1 (ObjectMeta, ListMeta, OwnerReference, ManagedFieldsEntry,
 * LabelSelectorRequirement, Condition, Status and its details), the apps/v1
 * DaemonSet, Deployment and StatefulSet trees and batch/v1 Job and CronJob so
 * far; other messages (core/v1 among them) keep omitting zero fields.
 */
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
const APPS = 'k8s.io.api.apps.v1';
const BATCH = 'k8s.io.api.batch.v1';

export const PROTO_ZERO_FIELDS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  [`${META}.ObjectMeta`, ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp']],
  [`${META}.ListMeta`, ['selfLink', 'resourceVersion', 'continue']],
  [`${META}.OwnerReference`, ['kind', 'name', 'uid', 'apiVersion']],
  [`${META}.LabelSelectorRequirement`, ['key', 'operator']],
  [`${META}.ManagedFieldsEntry`, ['manager', 'operation', 'apiVersion', 'fieldsType', 'subresource']],
  [`${META}.Condition`, ['type', 'status', 'observedGeneration', 'lastTransitionTime', 'reason', 'message']],
  [`${META}.Status`, ['metadata', 'status', 'message', 'reason', 'code']],
  [`${META}.StatusDetails`, ['name', 'group', 'kind', 'uid', 'retryAfterSeconds']],
  [`${META}.StatusCause`, ['reason', 'message', 'field']],

  [`${APPS}.DaemonSet`, ['metadata', 'spec', 'status']],
  [`${APPS}.DaemonSetList`, ['metadata']],
  [`${APPS}.DaemonSetSpec`, ['template', 'updateStrategy', 'minReadySeconds']],
  [`${APPS}.DaemonSetUpdateStrategy`, ['type']],
  [
    `${APPS}.DaemonSetStatus`,
    [
      'currentNumberScheduled',
      'numberMisscheduled',
      'desiredNumberScheduled',
      'numberReady',
      'observedGeneration',
      'updatedNumberScheduled',
      'numberAvailable',
      'numberUnavailable',
    ],
  ],
  [`${APPS}.DaemonSetCondition`, ['type', 'status', 'lastTransitionTime', 'reason', 'message']],

  [`${APPS}.Deployment`, ['metadata', 'spec', 'status']],
  [`${APPS}.DeploymentList`, ['metadata']],
  [`${APPS}.DeploymentSpec`, ['template', 'strategy', 'minReadySeconds', 'paused']],
  [`${APPS}.DeploymentStrategy`, ['type']],
  [
    `${APPS}.DeploymentStatus`,
    ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'],
  ],
  [`${APPS}.DeploymentCondition`, ['type', 'status', 'lastUpdateTime', 'lastTransitionTime', 'reason', 'message']],

  [`${APPS}.StatefulSet`, ['metadata', 'spec', 'status']],
  [`${APPS}.StatefulSetList`, ['metadata']],
  [`${APPS}.StatefulSetSpec`, ['template', 'serviceName', 'podManagementPolicy', 'updateStrategy', 'minReadySeconds']],
  [`${APPS}.StatefulSetUpdateStrategy`, ['type']],
  [`${APPS}.StatefulSetPersistentVolumeClaimRetentionPolicy`, ['whenDeleted', 'whenScaled']],
  [`${APPS}.StatefulSetOrdinals`, ['start']],
  [
    `${APPS}.StatefulSetStatus`,
    [
      'observedGeneration',
      'replicas',
      'readyReplicas',
      'currentReplicas',
      'updatedReplicas',
      'currentRevision',
      'updateRevision',
      'availableReplicas',
    ],
  ],
  [`${APPS}.StatefulSetCondition`, ['type', 'status', 'lastTransitionTime', 'reason', 'message']],

  [`${BATCH}.Job`, ['metadata', 'spec', 'status']],
  [`${BATCH}.JobList`, ['metadata']],
  [`${BATCH}.JobSpec`, ['template']],
  [`${BATCH}.JobStatus`, ['active', 'succeeded', 'failed', 'completedIndexes']],
  [`${BATCH}.JobCondition`, ['type', 'status', 'lastProbeTime', 'lastTransitionTime', 'reason', 'message']],
  [`${BATCH}.JobTemplateSpec`, ['metadata', 'spec']],
  [`${BATCH}.PodFailurePolicyRule`, ['action']],
  [`${BATCH}.PodFailurePolicyOnExitCodesRequirement`, ['operator']],
  [`${BATCH}.PodFailurePolicyOnPodConditionsPattern`, ['type', 'status']],
  [`${BATCH}.CronJob`, ['metadata', 'spec', 'status']],
  [`${BATCH}.CronJobList`, ['metadata']],
  [`${BATCH}.CronJobSpec`, ['schedule', 'concurrencyPolicy', 'jobTemplate']],
]);
