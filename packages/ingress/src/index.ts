// @mkube/ingress: the Ingress controller of IngressClass mkube (see README.md).
export { DEFAULT_CLASS_ANNOTATION, defaultIngressClass, ensureIngressClass, INGRESS_CLASS, INGRESS_CONTROLLER, IngressController, type IngressControllerOptions } from './controller.js';
export { IngressProxy, type ProxyOptions } from './proxy.js';
export { normalizeHost, pathMatches, prefixMatches, RouteTable, wildcardMatches, type Backend, type BackendAddress, type Match, type Route, type TlsCert } from './routes.js';
