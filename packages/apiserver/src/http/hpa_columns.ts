/**
 * The TARGETS column of HorizontalPodAutoscalers as upstream's printer
 * (formatHPAMetrics): per metric "current/target" — a resource's average
 * utilization as "cpu: 250%/50%" (or its average value), <unknown> until the
 * controller has measured it — at most two metrics, then "+ N more...".
 */
import type { JsonObject } from '@mkube/api';

type Obj = JsonObject;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const a = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const q = (v: unknown): string => (v === undefined || v === null ? '<unknown>' : String(v));

const MAX_SHOWN = 2;

function resourceTarget(spec: Obj, status: Obj | undefined, container: boolean): string {
  const target = o(spec.target);
  const prefix = container ? `${String(spec.name ?? '')} of container "${String(spec.container ?? '')}"` : String(spec.name ?? '');
  const current = o(status?.current);
  if (target.averageValue !== undefined) return `${prefix}: ${status ? q(current.averageValue) : '<unknown>'}/${String(target.averageValue)}`;
  const cur = status && typeof current.averageUtilization === 'number' ? `${current.averageUtilization}%` : '<unknown>';
  const tgt = typeof target.averageUtilization === 'number' ? `${target.averageUtilization}%` : '<auto>';
  return `${prefix}: ${cur}/${tgt}`;
}

export function hpaTargets(hpa: Obj): string {
  const specs = a(o(hpa.spec).metrics);
  const statuses = a(o(hpa.status).currentMetrics);
  if (specs.length === 0) return '<none>';
  const list = specs.map((m, i) => {
    const st = statuses[i];
    switch (m.type) {
      case 'Resource':
        return resourceTarget(o(m.resource), st?.resource ? o(st.resource) : undefined, false);
      case 'ContainerResource':
        return resourceTarget(o(m.containerResource), st?.containerResource ? o(st.containerResource) : undefined, true);
      case 'Pods':
        return `${st?.pods ? q(o(o(st.pods).current).averageValue) : '<unknown>'}/${String(o(o(m.pods).target).averageValue ?? '')}`;
      case 'Object': {
        const t = o(o(m.object).target);
        const c = o(o(st?.object).current);
        return t.averageValue !== undefined ? `${st?.object ? q(c.averageValue) : '<unknown>'}/${String(t.averageValue)} (avg)` : `${st?.object ? q(c.value) : '<unknown>'}/${String(t.value ?? '')}`;
      }
      case 'External': {
        const t = o(o(m.external).target);
        const c = o(o(st?.external).current);
        return t.averageValue !== undefined ? `${st?.external ? q(c.averageValue) : '<unknown>'}/${String(t.averageValue)} (avg)` : `${st?.external ? q(c.value) : '<unknown>'}/${String(t.value ?? '')}`;
      }
      default:
        return '<unknown type>';
    }
  });
  if (list.length > MAX_SHOWN) return `${list.slice(0, MAX_SHOWN).join(', ')} + ${list.length - MAX_SHOWN} more...`;
  return list.join(', ');
}
