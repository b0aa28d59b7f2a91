import type { BindPlugin, MaybeStatus } from '../framework/interface.js';
import type { SchedulerPod } from '../types.js';

/** DefaultBinder: POST pods/<name>/binding through the given function. */
export class DefaultBinder implements BindPlugin {
  readonly name = 'DefaultBinder';
  constructor(private readonly bindFn: (pod: SchedulerPod, nodeName: string) => Promise<void>) {}

  async bind(_s: unknown, pod: SchedulerPod, nodeName: string): Promise<MaybeStatus> {
    await this.bindFn(pod, nodeName);
    return null;
  }
}
