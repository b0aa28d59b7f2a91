// The Ingress controller for `mkube up`: mkube-ingress runs on every node, as a node-local process
// next to the node agent (in the node's network namespace in the lab), serving HTTP on port 80 and
// HTTPS on 443 of the node IP — every node is an entry point, as a DaemonSet of ingress-nginx with
// hostPort 80/443 is upstream, rather than one LoadBalancer address: a client (or a DNS name with
// every node address) reaches the cluster through any node, and the controller routes straight to
// pod IPs, which every node reaches. Credentials: ServiceAccount kube-system/mkube-ingress (bootstrap
// policy mkube-ingress); the controller creates the default IngressClass `mkube` itself.
export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;

export function ingressArgs(kubeconfig: string, nodeIP: string, metricsPort: number | undefined): string[] {
  return [
    '--kubeconfig', kubeconfig, '--ingress-bind-address', nodeIP, '--http-port', String(HTTP_PORT), '--https-port', String(HTTPS_PORT),
    ...(metricsPort === undefined ? ['--metrics-port', '-1'] : ['--bind-address', '127.0.0.1', '--metrics-port', String(metricsPort)]),
  ];
}
