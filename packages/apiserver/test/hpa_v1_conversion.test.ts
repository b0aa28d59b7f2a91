// The autoscaling/v1 <-> v2 HorizontalPodAutoscaler conversion on its own: every metric source type
// survives v2 -> v1 (annotations) -> v2, the v1 annotation JSON has upstream's v1 field names, and the
// v1 view of a CPU-only object carries no annotation.
import test from 'ava';
import type { JsonObject } from '@mkube/api';
import { BEHAVIOR_ANNOTATION, hpaV1FromV2, hpaV2FromV1, METRIC_SPECS_ANNOTATION, METRIC_STATUSES_ANNOTATION } from '../src/registry/hpa_v1_conversion.js';

const ref = { kind: 'Deployment', name: 'web', apiVersion: 'apps/v1' };
const selector = { matchLabels: { q: 'x' } };

const v2: JsonObject = {
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'h', namespace: 'n', annotations: { keep: 'me' } },
  spec: {
    scaleTargetRef: ref,
    minReplicas: 1,
    maxReplicas: 9,
    metrics: [
      { type: 'Object', object: { describedObject: { kind: 'Ingress', name: 'main', apiVersion: 'networking.k8s.io/v1' }, target: { type: 'Value', value: '10k' }, metric: { name: 'rps', selector } } },
      { type: 'External', external: { metric: { name: 'queue' }, target: { type: 'AverageValue', averageValue: '30' } } },
      { type: 'ContainerResource', containerResource: { name: 'memory', container: 'app', target: { type: 'AverageValue', averageValue: '1Gi' } } },
      { type: 'Pods', pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '5' } } },
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
    ],
    behavior: { scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }] } },
  },
  status: {
    currentReplicas: 2,
    desiredReplicas: 2,
    currentMetrics: [
      { type: 'External', external: { metric: { name: 'queue' }, current: { value: '0', averageValue: '12' } } },
      { type: 'Resource', resource: { name: 'cpu', current: { averageValue: '120m', averageUtilization: 40 } } },
    ],
  },
};

test('v2 -> v1 -> v2 keeps every metric source, the behavior and the metric statuses', (t) => {
  const v1 = hpaV1FromV2(v2);
  t.deepEqual(v1.spec, { scaleTargetRef: ref, minReplicas: 1, maxReplicas: 9, targetCPUUtilizationPercentage: 60 });
  t.deepEqual(v1.status, { currentReplicas: 2, desiredReplicas: 2, currentCPUUtilizationPercentage: 40 });
  const back = hpaV2FromV1(v1);
  t.deepEqual(back.metadata, v2.metadata);
  t.deepEqual(back.spec, v2.spec);
  t.deepEqual(back.status, v2.status);
});

test('the annotations use upstream v1 field names and order', (t) => {
  const ann = (hpaV1FromV2(v2).metadata as JsonObject).annotations as Record<string, string>;
  t.deepEqual(JSON.parse(ann[METRIC_SPECS_ANNOTATION]!), [
    { type: 'Object', object: { target: { kind: 'Ingress', name: 'main', apiVersion: 'networking.k8s.io/v1' }, metricName: 'rps', targetValue: '10k', selector } },
    { type: 'External', external: { metricName: 'queue', targetAverageValue: '30' } },
    { type: 'ContainerResource', containerResource: { name: 'memory', targetAverageValue: '1Gi', container: 'app' } },
    { type: 'Pods', pods: { metricName: 'qps', targetAverageValue: '5' } },
  ]);
  t.is(
    ann[METRIC_STATUSES_ANNOTATION],
    '[{"type":"External","external":{"metricName":"queue","currentValue":"0","currentAverageValue":"12"}},{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,"currentAverageValue":"120m"}}]',
  );
  t.is(ann[BEHAVIOR_ANNOTATION], '{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15}],"Tolerance":null},"ScaleDown":null}');
});

test('a CPU-only object has no annotation in v1; stale round-trip annotations on the v2 side are dropped', (t) => {
  const cpuOnly: JsonObject = { ...v2, metadata: { name: 'h', annotations: { [METRIC_SPECS_ANNOTATION]: '[]' } }, spec: { scaleTargetRef: ref, maxReplicas: 2, metrics: [(v2.spec as JsonObject & { metrics: JsonObject[] }).metrics[4]!] }, status: { currentReplicas: 0, desiredReplicas: 0 } };
  const v1 = hpaV1FromV2(cpuOnly);
  t.deepEqual(v1.metadata, { name: 'h' });
  t.deepEqual(v1.spec, { scaleTargetRef: ref, maxReplicas: 2, targetCPUUtilizationPercentage: 60 });
});
