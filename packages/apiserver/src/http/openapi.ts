/**
 * OpenAPI v3 documents (/openapi/v3 and /openapi/v3/<api|apis/g/v>), with
 * component schemas generated from the protobuf schema (JSON names, int-or-
 * string, times, patch merge keys) and, per resource, paths whose PATCH
 * operations carry x-kubernetes-group-version-kind and a fieldValidation
 * parameter (kubectl's client-side apply and server-side validation check
 * those).
 */
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { apiGroups, findProtoRoot, INLINE_FIELDS, JSON_NAMES, messageType, PROTO_FILES, RESOURCES, type JsonObject, type ResourceInfo } from '@mkube/api';
import { mergeKeyFor, PRIMITIVE_MERGE } from '../registry/patch.js';
import { KUBERNETES_VERSION } from './discovery.js';

type Obj = JsonObject;
const typeName = (t: protobuf.Type): string => (t.fullName.startsWith('.') ? t.fullName.slice(1) : t.fullName);
/** k8s.io.api.core.v1.Pod → io.k8s.api.core.v1.Pod */
export const schemaName = (full: string): string => (full.startsWith('k8s.io.') ? `io.k8s.${full.slice('k8s.io.'.length)}` : full);

const SPECIAL: Record<string, Obj> = {
  'k8s.io.apimachinery.pkg.apis.meta.v1.Time': { type: 'string', format: 'date-time' },
  'k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime': { type: 'string', format: 'date-time' },
  'k8s.io.apimachinery.pkg.apis.meta.v1.Duration': { type: 'string' },
  'k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1': { type: 'object' },
  'k8s.io.apimachinery.pkg.api.resource.Quantity': { 'x-kubernetes-int-or-string': true },
  'k8s.io.apimachinery.pkg.util.intstr.IntOrString': { type: 'string', format: 'int-or-string', 'x-kubernetes-int-or-string': true },
  'k8s.io.apimachinery.pkg.runtime.RawExtension': { type: 'object' },
};

function scalar(field: protobuf.Field): Obj {
  switch (field.type) {
    case 'string':
      return { type: 'string' };
    case 'bool':
      return { type: 'boolean' };
    case 'bytes':
      return { type: 'string', format: 'byte' };
    case 'double':
    case 'float':
      return { type: 'number', format: 'double' };
    case 'int32':
      return { type: 'integer', format: 'int32' };
    default:
      return { type: 'integer', format: 'int64' };
  }
}

let commented: protobuf.Root | undefined;
/** The schema again with its comments (upstream's field documentation), for descriptions. */
function commentedRoot(): protobuf.Root {
  if (commented) return commented;
  const protoRoot = findProtoRoot();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoRoot, target);
  root.loadSync([...PROTO_FILES], { keepCase: true, alternateCommentMode: true });
  return (commented = root);
}

/**
 * A proto comment as an OpenAPI description, as upstream's generator makes
 * them: lines joined by spaces, list items (`- `, `* `) kept on their own
 * lines, blank comment lines as paragraph breaks, `+marker` lines and mkube's
 * own implementation notes left out.
 */
export function commentDescription(comment: string | null | undefined): string | undefined {
  if (!comment) return undefined;
  const paragraphs: string[][] = [[]];
  for (const raw of comment.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('+') || line.startsWith('mkube:')) continue;
    if (line === '') {
      if (paragraphs[paragraphs.length - 1]!.length) paragraphs.push([]);
      continue;
    }
    paragraphs[paragraphs.length - 1]!.push(/^[-*] /.test(line) ? `\n${line}` : line);
  }
  const text = paragraphs.filter((p) => p.length).map((p) => p.join(' ').replace(/ \n/g, '\n').replace(/^\n/, '')).join('\n\n');
  return text || undefined;
}

function documented(t: protobuf.Type): protobuf.Type | undefined {
  try {
    return commentedRoot().lookupType(typeName(t));
  } catch {
    return undefined;
  }
}

class SchemaBuilder {
  readonly schemas: Record<string, Obj> = {};

  ref(t: protobuf.Type): Obj {
    const full = typeName(t);
    const name = schemaName(full);
    if (!this.schemas[name]) {
      this.schemas[name] = {};
      this.schemas[name] = SPECIAL[full] ?? this.build(t);
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  private fieldsOf(t: protobuf.Type): [string, protobuf.Field, string | undefined][] {
    const out: [string, protobuf.Field, string | undefined][] = [];
    const doc = documented(t);
    for (const f of t.fieldsArray) {
      const key = `${typeName(t)}.${f.name}`;
      if (INLINE_FIELDS.has(key) && f.resolvedType instanceof protobuf.Type) out.push(...this.fieldsOf(f.resolvedType));
      else out.push([JSON_NAMES.get(key) ?? f.name, f, commentDescription(doc?.fields[f.name]?.comment)]);
    }
    return out;
  }

  private build(t: protobuf.Type, path: string[] = []): Obj {
    const properties: Obj = {};
    for (const [json, f, description] of this.fieldsOf(t)) {
      const item = f.resolvedType instanceof protobuf.Type ? this.ref(f.resolvedType) : scalar(f);
      if (f instanceof protobuf.MapField) properties[json] = { type: 'object', additionalProperties: item };
      else if (f.repeated) {
        const p: Obj = { type: 'array', items: item };
        const mk = mergeKeyFor([...path, json], t.name === 'ServiceSpec' ? 'Service' : undefined) ?? mergeKeyFor(['spec', 'containers', json]);
        if (mk === PRIMITIVE_MERGE) p['x-kubernetes-patch-strategy'] = 'merge';
        else if (typeof mk === 'string' && mergeKeyFor(['status', json]) === mk ? true : typeof mk === 'string') {
          p['x-kubernetes-patch-merge-key'] = t.name === 'ServiceSpec' && json === 'ports' ? 'port' : (mk as string);
          p['x-kubernetes-patch-strategy'] = 'merge';
        }
        properties[json] = p;
      } else properties[json] = item.$ref && description ? { allOf: [item], default: {} } : { ...item };
      // A described reference is allOf [$ref] with the description beside it, as upstream's v3 documents.
      if (description) properties[json] = { ...(properties[json] as Obj), description };
    }
    const described = commentDescription(documented(t)?.comment);
    return described ? { description: described, type: 'object', properties } : { type: 'object', properties };
  }
}

function gvk(r: ResourceInfo): Obj {
  return { group: r.group, version: r.version, kind: r.kind };
}

const PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'].map((n) => ({ name: n, in: 'query', schema: n === 'force' ? { type: 'boolean' } : { type: 'string' }, uniqueItems: true }));

function operations(r: ResourceInfo, ref: Obj): Obj {
  const body = { content: { '*/*': { schema: ref } }, required: true };
  const ok = { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } };
  const ext = { 'x-kubernetes-group-version-kind': gvk(r) };
  return {
    get: { operationId: `read${r.kind}`, responses: ok, 'x-kubernetes-action': 'get', ...ext },
    put: { operationId: `replace${r.kind}`, parameters: PARAMS, requestBody: body, responses: ok, 'x-kubernetes-action': 'put', ...ext },
    delete: { operationId: `delete${r.kind}`, responses: ok, 'x-kubernetes-action': 'delete', ...ext },
    patch: {
      operationId: `patch${r.kind}`,
      parameters: PARAMS,
      requestBody: {
        content: {
          'application/apply-patch+yaml': { schema: { type: 'object' } },
          'application/json-patch+json': { schema: { type: 'object' } },
          'application/merge-patch+json': { schema: { type: 'object' } },
          'application/strategic-merge-patch+json': { schema: { type: 'object' } },
        },
        required: true,
      },
      responses: ok,
      'x-kubernetes-action': 'patch',
      ...ext,
    },
  };
}

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openApiDocument(group: string, version: string): Obj | undefined {
  const resources = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (resources.length === 0) return undefined;
  const b = new SchemaBuilder();
  const paths: Obj = {};
  const base = `/${gvPath(group, version)}`;
  for (const r of resources) {
    const ref = b.ref(messageType(r.protoType));
    const schema = b.schemas[schemaName(r.protoType)]!;
    schema['x-kubernetes-group-version-kind'] = [gvk(r)];
    const collection = r.namespaced ? `${base}/namespaces/{namespace}/${r.resource}` : `${base}/${r.resource}`;
    const ext = { 'x-kubernetes-group-version-kind': gvk(r) };
    paths[collection] = {
      get: { operationId: `list${r.kind}`, responses: { '200': { description: 'OK' } }, 'x-kubernetes-action': 'list', ...ext },
      post: { operationId: `create${r.kind}`, parameters: PARAMS, requestBody: { content: { '*/*': { schema: ref } }, required: true }, responses: { '201': { description: 'Created' } }, 'x-kubernetes-action': 'post', ...ext },
    };
    paths[`${collection}/{name}`] = operations(r, ref);
    if (r.listProtoType) {
      const listSchema = b.schemas[schemaName(r.listProtoType)] ?? (b.ref(messageType(r.listProtoType)), b.schemas[schemaName(r.listProtoType)]!);
      listSchema['x-kubernetes-group-version-kind'] = [{ group, version, kind: r.listKind! }];
    }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: KUBERNETES_VERSION.gitVersion },
    paths,
    components: { schemas: b.schemas },
  };
}

const cache = new Map<string, { body: string; hash: string }>();

export function openApiDocumentBytes(group: string, version: string): { body: string; hash: string } | undefined {
  const k = `${group}/${version}`;
  let hit = cache.get(k);
  if (!hit) {
    const doc = openApiDocument(group, version);
    if (!doc) return undefined;
    const body = JSON.stringify(doc);
    hit = { body, hash: createHash('sha512').update(body).digest('hex').slice(0, 64).toUpperCase() };
    cache.set(k, hit);
  }
  return hit;
}

export function openApiIndex(): Obj {
  const paths: Obj = {};
  for (const g of apiGroups()) {
    for (const v of g.versions) {
      const p = gvPath(g.group, v);
      const doc = openApiDocumentBytes(g.group, v);
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${doc?.hash ?? ''}` };
    }
  }
  return { paths };
}
