// The provider interface of the cloud controller manager, in the shape of upstream's
// k8s.io/cloud-provider cloudprovider.Interface: a provider hands out LoadBalancer, Instances /
// InstancesV2 and Zones implementations (undefined: not supported), and the controllers call only
// these. Errors a provider throws carry a code (CloudProviderError).
import type { LoadBalancerStatus, Node, NodeAddress, Service } from '@mkube/api';
import { CodedError } from '@mkube/component-base';

export class CloudProviderError extends CodedError {
  constructor(message: string, code: 'LoadBalancerIPUnavailable' | 'AddressPoolExhausted' | 'InstanceNotFound' | 'ProviderFailed') {
    super(code, message);
  }
}

/** cloudprovider.Interface. */
export interface CloudProvider {
  providerName(): string;
  hasClusterID(): boolean;
  loadBalancer(): LoadBalancer | undefined;
  instances(): Instances | undefined;
  instancesV2(): InstancesV2 | undefined;
  zones(): Zones | undefined;
}

/** cloudprovider.LoadBalancer. */
export interface LoadBalancer {
  getLoadBalancer(clusterName: string, service: Service): Promise<{ status?: LoadBalancerStatus; exists: boolean }>;
  getLoadBalancerName(clusterName: string, service: Service): string;
  /** Creates or updates the load balancer; returns its status (ingress addresses). Must be idempotent. */
  ensureLoadBalancer(clusterName: string, service: Service, nodes: Node[]): Promise<LoadBalancerStatus>;
  updateLoadBalancer(clusterName: string, service: Service, nodes: Node[]): Promise<void>;
  /** Deletes the load balancer if it exists; no error when it does not. */
  ensureLoadBalancerDeleted(clusterName: string, service: Service): Promise<void>;
}

/** cloudprovider.Instances (the older, name-based interface). */
export interface Instances {
  nodeAddresses(nodeName: string): Promise<NodeAddress[]>;
  instanceID(nodeName: string): Promise<string>;
  instanceExistsByProviderID(providerID: string): Promise<boolean>;
  instanceShutdownByProviderID(providerID: string): Promise<boolean>;
}

/** cloudprovider.InstanceMetadata. */
export interface InstanceMetadata {
  providerID: string;
  instanceType: string;
  nodeAddresses: NodeAddress[];
  zone: string;
  region: string;
}

/** cloudprovider.InstancesV2. */
export interface InstancesV2 {
  instanceExists(node: Node): Promise<boolean>;
  instanceShutdown(node: Node): Promise<boolean>;
  instanceMetadata(node: Node): Promise<InstanceMetadata>;
}

/** cloudprovider.Zone. */
export interface Zone {
  failureDomain: string;
  region: string;
}

/** cloudprovider.Zones. */
export interface Zones {
  getZoneByNodeName(nodeName: string): Promise<Zone>;
}
