/**
 * The names upstream's Job API and controller put on Jobs and their pods:
 * labels, annotations, the tracking finalizer, condition types and reasons.
 */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
export const LABEL_CONTROLLER_UID = 'batch.kubernetes.io/controller-uid';
export const LABEL_JOB_NAME = 'batch.kubernetes.io/job-name';
export const LEGACY_LABEL_CONTROLLER_UID = 'controller-uid';
export const LEGACY_LABEL_JOB_NAME = 'job-name';
export const JOB_INDEX_FAILURE_COUNT = 'batch.kubernetes.io/job-index-failure-count';
export const JOB_INDEX_IGNORED_FAILURE_COUNT = 'batch.kubernetes.io/job-index-ignored-failure-count';
export const CRONJOB_SCHEDULED_TIMESTAMP = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** spec.managedBy of Jobs the built-in controller reconciles (also when unset). */
export const JOB_CONTROLLER_NAME = 'kubernetes.io/job-controller';

export const COND_COMPLETE = 'Complete';
export const COND_FAILED = 'Failed';
export const COND_SUSPENDED = 'Suspended';
export const COND_FAILURE_TARGET = 'FailureTarget';
export const COND_SUCCESS_CRITERIA_MET = 'SuccessCriteriaMet';

export const REASON_BACKOFF_LIMIT_EXCEEDED = 'BackoffLimitExceeded';
export const REASON_DEADLINE_EXCEEDED = 'DeadlineExceeded';
export const REASON_POD_FAILURE_POLICY = 'PodFailurePolicy';
export const REASON_MAX_FAILED_INDEXES_EXCEEDED = 'MaxFailedIndexesExceeded';
export const REASON_FAILED_INDEXES = 'FailedIndexes';
export const REASON_COMPLETIONS_REACHED = 'CompletionsReached';
export const REASON_SUCCESS_POLICY = 'SuccessPolicy';

export const MSG_BACKOFF_LIMIT = 'Job has reached the specified backoff limit';
export const MSG_DEADLINE = 'Job was active longer than specified deadline';
export const MSG_MAX_FAILED_INDEXES = 'Job has exceeded the specified maximal number of failed indexes';
export const MSG_FAILED_INDEXES = 'Job has failed indexes';
export const MSG_COMPLETIONS_REACHED = 'Reached expected number of succeeded pods';
export const MSG_SUCCESS_POLICY = 'Matched rules at index';

/** Failed pods' back-off before a replacement: 10 s doubling per consecutive failure, at most 6 min. */
export const POD_FAILURE_BACKOFF_MS = 10_000;
export const MAX_POD_FAILURE_BACKOFF_MS = 360_000;
/** At most this many pod creates or deletes per sync (upstream's MaxPodCreateDeletePerSync). */
export const MAX_POD_CREATE_DELETE_PER_SYNC = 500;
