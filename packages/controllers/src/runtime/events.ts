/**
 * Events as the controllers' record.EventRecorder writes them: a core/v1
 * Event about an object (involvedObject with its uid and resourceVersion),
 * source component kube-controller-manager's controller name, named
 * `<object>.<hex time>` as client-go does. Events are best effort: a failed
 * write is logged, never retried.
 */
import { formatTime, type Event, type KubeObject, type Named, type ResourceInfo } from '@mkube/api';
import type { KubeClient } from '@mkube/client';
import { Resources } from '@mkube/client';
import type { Logger } from 'pino';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

let seq = 0;

export function newEvent(obj: Named<KubeObject>, ref: Pick<ResourceInfo, 'apiVersion' | 'kind'>, e: EventSpec, component: string, nowMs: number): Event {
  const m = obj.metadata;
  const t = formatTime(nowMs);
  const suffix = (BigInt(nowMs) * 1_000_000n + BigInt(seq++ % 1_000_000)).toString(16);
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${m.name}.${suffix}`, namespace: m.namespace || 'default' },
    involvedObject: { apiVersion: ref.apiVersion, kind: ref.kind, name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion },
    reason: e.reason,
    message: e.message,
    type: e.type,
    source: { component },
    firstTimestamp: t,
    lastTimestamp: t,
    count: 1,
    reportingComponent: component,
    reportingInstance: component,
  };
}

export class EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly component: string,
    private readonly now: () => number,
  ) {}

  /** Writes the event in the background; never throws. */
  record(obj: Named<KubeObject>, ref: Pick<ResourceInfo, 'apiVersion' | 'kind'>, e: EventSpec): void {
    const ev = newEvent(obj, ref, e, this.component, this.now());
    this.client
      .resource<Event>(Resources.events)
      .create(ev.metadata?.namespace, ev)
      .catch((err: unknown) => this.log.debug({ err, reason: e.reason, object: obj.metadata.name }, 'event not written'));
  }
}
