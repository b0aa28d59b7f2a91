/**
 * Authorization attributes of a request under /apis/GROUP/VERSION for an
 * aggregated group, read as upstream's RequestInfoFactory reads any API path
 * (the main server authorizes before proxying): discovery paths are
 * non-resource URLs; [namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]] is a
 * resource request whose verb comes from the method (list/watch without a
 * name, deletecollection).
 */
import type { Attributes } from '../auth/rbac.js';

export function aggregatedRequestAttributes(method: string, path: string, query: URLSearchParams): Attributes {
  const parts = path.split('/').filter(Boolean); // apis, group, version, ...
  let rest = parts.slice(3);
  if (rest.length === 0) return { verb: method.toLowerCase(), path };
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  } else if (rest[0] === 'namespaces' && rest.length === 2) {
    // namespaces/NAME of an aggregated group: the resource "namespaces" itself.
    namespace = rest[1];
  }
  const [resource, name, subresource] = rest;
  const watch = query.get('watch');
  const isWatch = watch === '1' || watch === 'true' || watch === 'True' || watch === 't' || watch === 'T' || watch === 'TRUE';
  let verb: string;
  switch (method.toUpperCase()) {
    case 'POST': verb = 'create'; break;
    case 'PUT': verb = 'update'; break;
    case 'PATCH': verb = 'patch'; break;
    case 'DELETE': verb = name ? 'delete' : 'deletecollection'; break;
    case 'GET':
    case 'HEAD': verb = isWatch ? 'watch' : name ? 'get' : 'list'; break;
    default: verb = method.toLowerCase();
  }
  return { verb, apiGroup: parts[1], resource, subresource, namespace, name };
}
