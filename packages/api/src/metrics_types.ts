/**
 * metrics.k8s.io/v1beta1, the resource metrics API (served by the metrics
 * server behind an APIService, read by `kubectl top` and the HPA): NodeMetrics
 * and PodMetrics as upstream's k8s.io/metrics types. Declared here by hand:
 * upstream publishes no protobuf for this group.
 */
import type { ObjectMeta } from './types/generated.js';

export const METRICS_GROUP = 'metrics.k8s.io';
export const METRICS_VERSION = 'v1beta1';

/** Resource name → quantity (cpu, memory). */
export type ResourceUsage = Record<string, string>;

export interface NodeMetrics {
  kind?: 'NodeMetrics';
  apiVersion?: string;
  metadata: ObjectMeta;
  /** The end of the collection window, RFC 3339. */
  timestamp: string;
  /** The window the usage was computed over, a Go duration ("15s"). */
  window: string;
  usage: ResourceUsage;
}

export interface ContainerMetrics {
  name: string;
  usage: ResourceUsage;
}

export interface PodMetrics {
  kind?: 'PodMetrics';
  apiVersion?: string;
  metadata: ObjectMeta;
  timestamp: string;
  window: string;
  containers: ContainerMetrics[];
}

export interface NodeMetricsList {
  kind?: 'NodeMetricsList';
  apiVersion?: string;
  metadata: { resourceVersion?: string };
  items: NodeMetrics[];
}

export interface PodMetricsList {
  kind?: 'PodMetricsList';
  apiVersion?: string;
  metadata: { resourceVersion?: string };
  items: PodMetrics[];
}
