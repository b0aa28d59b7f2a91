/**
 * The in-tree plugin registry (upstream's plugins.NewInTreeRegistry): every
 * plugin mkube-scheduler ships, by its upstream name, with its args decoder.
 */
import {
  decodeDefaultPreemptionArgs, decodeInterPodAffinityArgs, decodeNodeAffinityArgs, decodeNodeResourcesBalancedAllocationArgs,
  decodeNodeResourcesFitArgs, decodePodTopologySpreadArgs,
} from '../config/plugin_args.js';
import { Registry } from '../framework/registry.js';
import { DefaultBinder } from './default_binder.js';
import { DefaultPreemption } from './default_preemption.js';
import { ImageLocality } from './image_locality.js';
import { InterPodAffinity } from './inter_pod_affinity.js';
import { NodeAffinity } from './node_affinity.js';
import { NodeName } from './node_name.js';
import { NodePorts } from './node_ports.js';
import { NodeResourcesBalancedAllocation, NodeResourcesFit } from './node_resources.js';
import { NodeUnschedulable } from './node_unschedulable.js';
import { PodTopologySpread } from './pod_topology_spread.js';
import { TaintToleration } from './taint_toleration.js';
import { VolumeBinding } from './volume_binding.js';

export function inTreeRegistry(): Registry {
  return new Registry()
    .register('NodeUnschedulable', () => new NodeUnschedulable())
    .register('NodeName', () => new NodeName())
    .register('TaintToleration', () => new TaintToleration())
    .register('NodeAffinity', (args, _h) => new NodeAffinity(args), decodeNodeAffinityArgs)
    .register('NodePorts', () => new NodePorts())
    .register('NodeResourcesFit', (args) => new NodeResourcesFit(args), decodeNodeResourcesFitArgs)
    .register('NodeResourcesBalancedAllocation', (args) => new NodeResourcesBalancedAllocation(args), decodeNodeResourcesBalancedAllocationArgs)
    .register('PodTopologySpread', (args, h) => new PodTopologySpread(args, h.defaultSelector), decodePodTopologySpreadArgs)
    .register('InterPodAffinity', (args, h) => new InterPodAffinity(args, h.namespaceLabels), decodeInterPodAffinityArgs)
    .register('ImageLocality', () => new ImageLocality())
    .register('VolumeBinding', (_args, h) => new VolumeBinding(h.volumes))
    .register('DefaultPreemption', (args, h) => new DefaultPreemption(h, args), decodeDefaultPreemptionArgs)
    .register('DefaultBinder', (_args, h) => new DefaultBinder((pod, node) => h.bind(pod, node)));
}
