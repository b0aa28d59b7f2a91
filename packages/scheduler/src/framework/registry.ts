/**
 * The plugin registry, as kube-scheduler's frameworkruntime.Registry: plugin
 * name → factory building the plugin from its (typed, defaulted, validated)
 * args and the profile's framework handle. A profile's framework instantiates
 * the plugins its configuration enables from here.
 */
import type { FieldError } from '../config/field_errors.js';
import type { FrameworkHandle } from './handle.js';
import type { Plugin } from './interface.js';

export type PluginFactory<A> = (args: A, handle: FrameworkHandle) => Plugin;

/**
 * Decodes a plugin's `pluginConfig[].args` (undefined when the profile has
 * none) into its args type with defaults applied; every problem is pushed
 * onto `errs` with its field path (`path` is ".../pluginConfig[i].args").
 */
export type ArgsDecoder<A> = (raw: unknown, path: string, errs: FieldError[]) => A;

/** Registering or unregistering a name twice / never registered. */
export class RegistryError extends Error {
  readonly code = 'PLUGIN_REGISTRY';
  constructor(message: string) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** One registered plugin with its args type erased behind a decode → build pair. */
export interface RegistryEntry {
  readonly name: string;
  /** Args as the factory takes them (defaults when `raw` is undefined). */
  decodeArgs(raw: unknown, path: string, errs: FieldError[]): unknown;
  build(decodedArgs: unknown, handle: FrameworkHandle): Plugin;
}

function entry<A>(name: string, factory: PluginFactory<A>, decode: ArgsDecoder<A>): RegistryEntry {
  // `build` only ever receives what this entry's `decodeArgs` returned.
  return { name, decodeArgs: decode, build: (args, handle) => factory(args as A, handle) };
}

export class Registry {
  private readonly entries = new Map<string, RegistryEntry>();

  /** Adds a plugin; `decodeArgs` omitted means the factory gets the raw args (undefined without pluginConfig). */
  register<A>(name: string, factory: PluginFactory<A>, decodeArgs: ArgsDecoder<A>): this;
  register(name: string, factory: PluginFactory<unknown>): this;
  register<A>(name: string, factory: PluginFactory<A>, decodeArgs?: ArgsDecoder<A>): this {
    if (this.entries.has(name)) throw new RegistryError(`a plugin named ${name} already exists`);
    // Without a decoder A is `unknown` (second overload): the raw args pass through.
    this.entries.set(name, entry(name, factory, decodeArgs ?? ((raw: unknown) => raw as A)));
    return this;
  }

  unregister(name: string): this {
    if (!this.entries.delete(name)) throw new RegistryError(`no plugin named ${name} exists`);
    return this;
  }

  /** Adds every plugin of `other`; a name in both is an error. */
  merge(other: Registry): this {
    for (const e of other.entries.values()) {
      if (this.entries.has(e.name)) throw new RegistryError(`a plugin named ${e.name} already exists`);
      this.entries.set(e.name, e);
    }
    return this;
  }

  get(name: string): RegistryEntry | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
}
