/** Typed handles for the batch/v1 resources the Job, CronJob and TTL-after-finished controllers read and write. */
import type { CronJob, Job } from '@mkube/api';
import { resourceFor } from '@mkube/api';
import { typedRef } from '../types.js';

export const JOBS = typedRef<Job>(resourceFor('jobs', 'batch'));
export const CRONJOBS = typedRef<CronJob>(resourceFor('cronjobs', 'batch'));
