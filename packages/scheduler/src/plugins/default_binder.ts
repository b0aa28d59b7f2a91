import type { BindPlugin, MaybeStatus } from '../framework/interface.js';
import type { Pod } from '../types.js';

/** DefaultBinder: POST pods/<name>/binding through the given function. */
export class DefaultBinder implements BindPlugin {
  readonly name = 'DefaultBinder';
  constructor(private readonly bindFn: (pod: Pod, nodeName: string) => Promise<void>) {}

  async bind(_s: unknown, pod: Pod, nodeName: string): Promise<MaybeStatus> {
    await this.bindFn(pod, nodeName);
    return null;
  }
}
