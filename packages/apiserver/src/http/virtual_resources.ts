/**
 * Create-only virtual resources (the access and token reviews): POST decodes
 * the object, a handler registered per group/version/resource answers it with
 * its status filled in, and nothing is stored. Other verbs are 405, as
 * upstream's create-only REST storage.
 */
import type { JsonObject, ResourceInfo } from '@mkube/api';
import type { IncomingMessage } from 'node:http';
import type { AuthenticatedUser } from '../auth/authn.js';
import { ApiError } from '../errors.js';

/** What a review handler sees: the decoded body, the URL's namespace, the requesting user. */
export interface VirtualCreateRequest {
  info: ResourceInfo;
  /** The namespace of the URL (LocalSubjectAccessReview). */
  namespace: string | undefined;
  body: JsonObject;
  user: AuthenticatedUser;
  /** The HTTP request (absent over gRPC). */
  req?: IncomingMessage;
}

/** Answers one create: the object to return (201), usually the body with its status set. */
export type VirtualCreate = (r: VirtualCreateRequest) => JsonObject | Promise<JsonObject>;

const key = (group: string, version: string, resource: string) => `${group}/${version}/${resource}`;

export class VirtualResources {
  private readonly handlers = new Map<string, VirtualCreate>();

  register(group: string, version: string, resource: string, create: VirtualCreate): void {
    this.handlers.set(key(group, version, resource), create);
  }

  /** Answers a create of a virtual resource; 405 for any other verb or an unserved resource. */
  async create(r: VirtualCreateRequest): Promise<JsonObject> {
    const h = this.handlers.get(key(r.info.group, r.info.version, r.info.resource));
    if (!h) throw notAllowed();
    const out = await h(r);
    const meta = (out.metadata ?? {}) as JsonObject;
    return { ...out, kind: r.info.kind, apiVersion: r.info.apiVersion, metadata: { creationTimestamp: null, ...meta } };
  }
}

export function notAllowed(): ApiError {
  return new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
}
