// @mkube/cloud-controller-manager: the cloud controller manager, its provider interface and the built-in address-pool provider.
export * from './cloudprovider.js';
export { AddressPool } from './address_pool.js';
export { PoolProvider, parseMachines, PROVIDER_NAME, PROVIDER_ID_PREFIX, type Machine, type PoolProviderOptions } from './pool_provider.js';
export { ServiceController, wantsLoadBalancer, LB_CLEANUP_FINALIZER, EXCLUDE_LB_LABEL, type ServiceControllerOptions } from './service_controller.js';
export { CloudNodeController, UNINITIALIZED_TAINT, type CloudNodeControllerOptions } from './node_controller.js';
export { CloudControllerManager, DEFAULT_LB_CLASS, type CloudControllerManagerOptions } from './manager.js';
