// IngressClass facts shared by the API server's DefaultIngressClass admission and Ingress controllers:
// the annotations (networking/v1 and v1beta1 well-known names) and which class is the cluster's default.
import type { IngressClass } from './types/generated.js';

/** An IngressClass with this annotation set to "true" is the default class (networkingv1.AnnotationIsDefaultIngressClass). */
export const ANN_DEFAULT_INGRESS_CLASS = 'ingressclass.kubernetes.io/is-default-class';
/** The deprecated class annotation on an Ingress, still honoured before spec.ingressClassName (networkingv1beta1.AnnotationIngressClass). */
export const ANN_INGRESS_CLASS = 'kubernetes.io/ingress.class';

export function isDefaultIngressClass(c: IngressClass): boolean {
  return c.metadata?.annotations?.[ANN_DEFAULT_INGRESS_CLASS] === 'true';
}

/**
 * The default IngressClass as upstream's DefaultIngressClass admission picks it: of the classes marked
 * default, the newest by creationTimestamp, then the name first alphabetically on a tie; undefined when
 * none is marked.
 */
export function defaultIngressClassOf<T extends IngressClass>(classes: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const c of classes) {
    if (!isDefaultIngressClass(c)) continue;
    const a = c.metadata?.creationTimestamp ?? '';
    const b = best?.metadata?.creationTimestamp ?? '';
    if (!best || a > b || (a === b && (c.metadata?.name ?? '') < (best.metadata?.name ?? ''))) best = c;
  }
  return best;
}
