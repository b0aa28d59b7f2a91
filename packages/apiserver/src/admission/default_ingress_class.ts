/**
 * The DefaultIngressClass admission plugin, as upstream's
 * (plugin/pkg/admission/network/defaultingressclass): on CREATE of a
 * networking.k8s.io Ingress (not a subresource) without spec.ingressClassName
 * and without the deprecated `kubernetes.io/ingress.class` annotation, writes
 * the name of the default IngressClass (annotated
 * `ingressclass.kubernetes.io/is-default-class: "true"`; with several, the
 * newest, then by name) into spec.ingressClassName. No default class: the
 * Ingress is left without a class. Updates are never defaulted.
 */
import { ANN_INGRESS_CLASS, defaultIngressClassOf, type IngressClass, type JsonObject } from '@mkube/api';

export const DEFAULT_INGRESS_CLASS_PLUGIN = 'DefaultIngressClass';

const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether this create is one the plugin handles (upstream: group-resource ingresses.networking.k8s.io, no subresource). */
export function handlesIngressCreate(group: string, resource: string, subresource: string | undefined): boolean {
  return group === 'networking.k8s.io' && resource === 'ingresses' && !subresource;
}

/** Mutates `ingress` (as it will be stored); returns the class written, if any. */
export function admitDefaultIngressClass(ingress: JsonObject, classes: readonly JsonObject[]): string | undefined {
  const spec = isObj(ingress.spec) ? ingress.spec : (ingress.spec = {});
  if (spec.ingressClassName !== undefined && spec.ingressClassName !== null) return undefined;
  const annotations = isObj(ingress.metadata) && isObj(ingress.metadata.annotations) ? ingress.metadata.annotations : {};
  if (annotations[ANN_INGRESS_CLASS] !== undefined) return undefined;
  const name = defaultIngressClassOf(classes as unknown as IngressClass[])?.metadata?.name;
  if (name) spec.ingressClassName = name;
  return name;
}
