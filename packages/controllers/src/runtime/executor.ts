/**
 * Turns reconcile actions into API calls, in order, stopping at the first
 * failure (later actions were decided assuming the earlier ones happened).
 * Writes to an object this plan already wrote are rebased on our own new
 * resourceVersion. NotFound on delete counts as done.
 */
import type { Stored } from '@mkube/api';
import { ApiError, type KubeClient } from '@mkube/client';
import type { Logger } from 'pino';
import { OwnWrites } from '../rebase.js';
import type { Action, KubeObject, Named, ResourceRef } from '../types.js';

export type ExecutableAction = Action | { verb: 'finalize'; ref: ResourceRef; object: Named };

export class ActionError extends Error {
  constructor(
    readonly action: ExecutableAction,
    override readonly cause: unknown,
  ) {
    super(`${action.verb} ${action.ref.resource} ${describe(action)}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'ActionError';
  }
}

export function describe(a: ExecutableAction): string {
  if (a.verb === 'delete') return `${a.namespace ? `${a.namespace}/` : ''}${a.name}`;
  const m = a.object.metadata;
  return `${m?.namespace ? `${m.namespace}/` : ''}${m?.name ?? `${m?.generateName ?? ''}*`}`;
}

export class Executor {
  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
  ) {}

  /** Runs one action; returns the object the server wrote (undefined for deletes). */
  async run(a: ExecutableAction): Promise<Stored<KubeObject> | undefined> {
    const rc = this.client.resource<KubeObject>(a.ref);
    switch (a.verb) {
      case 'create':
        return await rc.create(a.namespace ?? a.object.metadata?.namespace, a.object);
      case 'update':
        return await rc.update(a.object);
      case 'updateStatus':
        return await rc.updateStatus(a.object);
      case 'finalize':
        return (await this.client.request('PUT', `/api/v1/namespaces/${encodeURIComponent(a.object.metadata.name)}/finalize`, a.object)) as Stored<KubeObject>;
      case 'delete':
        try {
          await rc.delete(a.namespace, a.name, { ...(a.uid ? { preconditions: { uid: a.uid } } : {}), ...(a.propagationPolicy ? { propagationPolicy: a.propagationPolicy } : {}) });
        } catch (err) {
          if (ApiError.isNotFound(err)) return undefined;
          throw err;
        }
        return undefined;
    }
  }

  /** Runs a plan in order; throws an ActionError at the first failure. */
  async runAll(actions: ExecutableAction[]): Promise<void> {
    const own = new OwnWrites();
    for (const action of actions) {
      const a = action.verb === 'finalize' ? action : own.rebase(action);
      try {
        const written = await this.run(a);
        if (a.verb !== 'finalize') own.record(a, written?.metadata?.resourceVersion);
        this.log.debug({ verb: a.verb, resource: a.ref.resource, object: describe(a), reason: a.verb === 'delete' ? a.reason : undefined }, 'wrote');
      } catch (err) {
        throw new ActionError(a, err);
      }
    }
  }
}

/** Conflicts and vanished objects are expected in a level-triggered world: retry quietly. */
export function isExpected(err: unknown): boolean {
  const cause = err instanceof ActionError ? err.cause : err;
  return ApiError.isConflict(cause) || ApiError.isNotFound(cause) || ApiError.isAlreadyExists(cause);
}
