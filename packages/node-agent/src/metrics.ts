// The node agent's Prometheus metrics as a prom-client registry (served by @mkube/component-base's
// ComponentServer): each value is read at scrape time from the part of the agent that counts it,
// so the hot paths keep plain integer counters and pay nothing for metrics.
import { Counter, Gauge, Registry } from '@mkube/component-base';

/** Where each metric's value comes from at scrape time (undefined: the source does not exist yet). */
export interface AgentMetricSources {
  runningPods(): number;
  statusWrites(): number;
  statusWriteFailures(): number;
  leaseRenewals(): number;
  nodeStatusUpdates(): number;
  routeSyncs(): number;
  routeRefused(): number;
  /** Present when the service proxy runs. */
  proxy?: { syncs(): number; failures(): number; refused(): number };
  /** Present when NetworkPolicy enforcement runs. */
  netpol?: { syncs(): number; failures(): number; refused(): number };
  startedAtMs: number;
  now(): number;
}

export function agentMetrics(s: AgentMetricSources): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(value()); } });
  // A counter mirrors a monotonic count kept elsewhere: reset and re-add it on each scrape.
  const counter = (name: string, help: string, value: () => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(value()); } });
  gauge('mkube_node_agent_running_pods', 'Pods the engine manages.', s.runningPods);
  counter('mkube_node_agent_pod_status_writes_total', 'Pod status writes accepted by the API server.', s.statusWrites);
  counter('mkube_node_agent_pod_status_write_failures_total', 'Pod status writes that failed.', s.statusWriteFailures);
  counter('mkube_node_agent_lease_renewals_total', 'Node lease renewals.', s.leaseRenewals);
  counter('mkube_node_agent_node_status_updates_total', 'Node status updates.', s.nodeStatusUpdates);
  counter('mkube_node_agent_route_syncs_total', 'host-gw route syncs.', s.routeSyncs);
  counter('mkube_node_agent_route_refused_total', 'Nodes whose podCIDR or InternalIP the route sync refused to write.', s.routeRefused);
  const proxy = s.proxy;
  if (proxy) {
    counter('mkube_node_agent_proxy_syncs_total', 'Service proxy rule syncs (iptables-restore runs that succeeded).', proxy.syncs);
    counter('mkube_node_agent_proxy_sync_failures_total', 'Service proxy rule syncs that failed.', proxy.failures);
    counter('mkube_node_agent_proxy_refused_total', 'Services and Endpoints whose values the service proxy refused to write.', proxy.refused);
  }
  const netpol = s.netpol;
  if (netpol) {
    counter('mkube_node_agent_netpol_syncs_total', 'NetworkPolicy rule syncs (iptables-restore runs that succeeded).', netpol.syncs);
    counter('mkube_node_agent_netpol_sync_failures_total', 'NetworkPolicy rule syncs that failed.', netpol.failures);
    counter('mkube_node_agent_netpol_refused_total', 'NetworkPolicies and Pods whose values the NetworkPolicy enforcer refused to write.', netpol.refused);
  }
  gauge('mkube_node_agent_uptime_seconds', 'Seconds since start.', () => Math.round((s.now() - s.startedAtMs) / 1000));
  return registry;
}
