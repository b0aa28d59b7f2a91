/**
 * The OpenAPI v2 (Swagger 2.0) document at GET /openapi/v2: JSON, or the
 * gnostic openapi.v2.Document protobuf message (proto/gnostic/openapiv2.proto)
 * that kubectl 1.27 fetches for client-side validation and for its
 * fieldValidation support check. Built from the per group-version OpenAPI v3
 * documents: definitions are their component schemas (with apiVersion and kind
 * added to object kinds, and x-kubernetes-group-version-kind on each kind and
 * list), paths are their operations with query/path/body parameters and the
 * x-kubernetes-group-version-kind extension.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiGroups, findProtoRoot } from '@mkube/api';
import protobuf from 'protobufjs';
import { stringify as yamlStringify } from 'yaml';
import { KUBERNETES_VERSION } from './discovery.js';
import { openApiDocument } from './openapi.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const OPENAPI_V2_PROTO = 'gnostic/openapiv2.proto';
export const OPENAPI_V2_PROTOBUF_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

export class OpenApiV2Error extends Error {
  constructor(readonly code: 'OPENAPI_V2_ENCODE', message: string) {
    super(message);
    this.name = 'OpenApiV2Error';
  }
}

/** $ref '#/components/schemas/X' → '#/definitions/X', int-or-string without a type → string, recursively. */
function v2Schema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(v2Schema);
  if (!isObj(s)) return s;
  const out: Obj = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$ref' && typeof v === 'string') out[k] = v.replace('#/components/schemas/', '#/definitions/');
    else if (k === 'properties' && isObj(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, v2Schema(ps)]));
    else if (k.startsWith('x-')) out[k] = v;
    else out[k] = v2Schema(v);
  }
  // A described reference (v3: allOf [$ref] beside the description) is $ref beside it in v2, as upstream's.
  if (Array.isArray(out.allOf) && out.allOf.length === 1 && isObj(out.allOf[0]) && typeof out.allOf[0].$ref === 'string') {
    out.$ref = out.allOf[0].$ref;
    delete out.allOf;
    delete out.default;
  }
  if (out['x-kubernetes-int-or-string'] === true && out.type === undefined && out.$ref === undefined) {
    out.type = 'string';
    out.format = 'int-or-string';
  }
  return out;
}

/** TypeMeta's fields with upstream's descriptions (v3 schemas come from the protos, which have no TypeMeta). */
const TYPE_META = {
  apiVersion: {
    description:
      'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
    type: 'string',
  },
  kind: {
    description:
      'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
    type: 'string',
  },
};

function v2Parameters(v3params: unknown, pathParams: string[], body?: unknown): Obj[] {
  const params: Obj[] = pathParams.map((name) => ({ name, in: 'path', required: true, type: 'string', uniqueItems: true }));
  for (const p of Array.isArray(v3params) ? v3params : []) {
    if (!isObj(p)) continue;
    const schema = isObj(p.schema) ? p.schema : {};
    params.push({ name: p.name, in: p.in, type: schema.type ?? 'string', uniqueItems: true });
  }
  if (body !== undefined) params.push({ name: 'body', in: 'body', required: true, schema: body });
  return params;
}

/** The whole API as one Swagger 2.0 document. */
export function openApiV2Document(): Obj {
  const definitions: Obj = {};
  const paths: Obj = {};
  for (const g of apiGroups()) {
    for (const v of g.versions) {
      const doc = openApiDocument(g.group, v) as Obj | undefined;
      if (!doc) continue;
      const schemas = isObj(doc.components) && isObj(doc.components.schemas) ? doc.components.schemas : {};
      for (const [name, s] of Object.entries(schemas)) {
        const d = v2Schema(s) as Obj;
        const kind = Array.isArray(d['x-kubernetes-group-version-kind']);
        if (isObj(d.properties) && (kind || isObj(d.properties.metadata))) d.properties = { ...TYPE_META, ...d.properties };
        const prev = definitions[name];
        if (isObj(prev) && Array.isArray(prev['x-kubernetes-group-version-kind']) && !kind) continue;
        definitions[name] = d;
      }
      for (const [path, item] of Object.entries(isObj(doc.paths) ? doc.paths : {})) {
        if (!isObj(item)) continue;
        const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
        const out: Obj = {};
        for (const [method, op] of Object.entries(item)) {
          if (!isObj(op)) continue;
          const rb = isObj(op.requestBody) && isObj(op.requestBody.content) ? op.requestBody.content : undefined;
          const bodySchema = rb ? (Object.values(rb).find(isObj)?.schema ?? { type: 'object' }) : undefined;
          const responses: Obj = {};
          for (const [code, r] of Object.entries(isObj(op.responses) ? op.responses : {})) {
            const schema = isObj(r) && isObj(r.content) && isObj(r.content['application/json']) ? r.content['application/json'].schema : undefined;
            responses[code] = { description: isObj(r) && typeof r.description === 'string' ? r.description : 'OK', ...(schema ? { schema: v2Schema(schema) } : {}) };
          }
          out[method] = {
            operationId: op.operationId,
            consumes: rb ? Object.keys(rb).filter((c) => c !== '*/*').concat(rb['*/*'] ? ['*/*'] : []) : undefined,
            produces: ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'],
            schemes: ['https'],
            parameters: v2Parameters(op.parameters, pathParams, bodySchema === undefined ? undefined : v2Schema(bodySchema)),
            responses,
            'x-kubernetes-action': op['x-kubernetes-action'],
            'x-kubernetes-group-version-kind': op['x-kubernetes-group-version-kind'],
          };
        }
        paths[path] = out;
      }
    }
  }
  return {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: KUBERNETES_VERSION.gitVersion },
    paths,
    definitions,
  };
}

// --- JSON → gnostic messages (field names as in proto/gnostic/openapiv2.proto) ---

function vendorExtensions(o: Obj): Obj[] {
  return Object.entries(o)
    .filter(([k, v]) => k.startsWith('x-') && v !== undefined)
    .map(([name, v]) => ({ name, value: { yaml: yamlStringify(v) } }));
}

function schemaMessage(s: unknown): Obj {
  if (!isObj(s)) return {};
  const m: Obj = {};
  if (typeof s.$ref === 'string') m._ref = s.$ref;
  if (typeof s.format === 'string') m.format = s.format;
  if (typeof s.description === 'string') m.description = s.description;
  if (Array.isArray(s.required)) m.required = s.required;
  if (typeof s.type === 'string') m.type = { value: [s.type] };
  if (s.items !== undefined) m.items = { schema: [schemaMessage(s.items)] };
  if (isObj(s.properties)) m.properties = { additional_properties: Object.entries(s.properties).map(([name, v]) => ({ name, value: schemaMessage(v) })) };
  if (typeof s.additionalProperties === 'boolean') m.additional_properties = { boolean: s.additionalProperties };
  else if (isObj(s.additionalProperties)) m.additional_properties = { schema: schemaMessage(s.additionalProperties) };
  const ext = vendorExtensions(s);
  if (ext.length) m.vendor_extension = ext;
  return m;
}

function parameterMessage(p: Obj): Obj {
  if (p.in === 'body') return { parameter: { body_parameter: { name: p.name, in: 'body', required: true, schema: schemaMessage(p.schema) } } };
  const sub = { name: p.name, in: p.in, required: p.required === true, type: p.type, unique_items: p.uniqueItems === true };
  return { parameter: { non_body_parameter: p.in === 'path' ? { path_parameter_sub_schema: sub } : { query_parameter_sub_schema: sub } } };
}

function operationMessage(op: Obj): Obj {
  return {
    operation_id: op.operationId,
    consumes: op.consumes ?? [],
    produces: op.produces ?? [],
    schemes: op.schemes ?? [],
    parameters: (Array.isArray(op.parameters) ? op.parameters : []).filter(isObj).map(parameterMessage),
    responses: {
      response_code: Object.entries(isObj(op.responses) ? op.responses : {}).map(([name, r]) => ({
        name,
        value: { response: { description: isObj(r) ? r.description : '', ...(isObj(r) && r.schema ? { schema: { schema: schemaMessage(r.schema) } } : {}) } },
      })),
    },
    vendor_extension: vendorExtensions(op),
  };
}

export function openApiV2Message(doc: Obj): Obj {
  return {
    swagger: doc.swagger,
    info: doc.info,
    paths: {
      path: Object.entries(isObj(doc.paths) ? doc.paths : {}).map(([name, item]) => ({
        name,
        value: Object.fromEntries(Object.entries(isObj(item) ? item : {}).filter(([, op]) => isObj(op)).map(([method, op]) => [method, operationMessage(op as Obj)])),
      })),
    },
    definitions: { additional_properties: Object.entries(isObj(doc.definitions) ? doc.definitions : {}).map(([name, s]) => ({ name, value: schemaMessage(s) })) },
  };
}

let documentType: protobuf.Type | undefined;
/** openapi.v2.Document from proto/gnostic/openapiv2.proto. */
export function openApiV2DocumentType(): protobuf.Type {
  if (documentType) return documentType;
  const protoRoot = findProtoRoot();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoRoot, target);
  root.loadSync(OPENAPI_V2_PROTO, { keepCase: true });
  root.resolveAll();
  documentType = root.lookupType('openapi.v2.Document');
  return documentType;
}

export interface OpenApiV2Bytes {
  json: string;
  protobuf: Buffer;
  etag: string;
}

let cached: OpenApiV2Bytes | undefined;
export function openApiV2Bytes(): OpenApiV2Bytes {
  if (cached) return cached;
  const doc = openApiV2Document();
  const json = JSON.stringify(doc);
  const T = openApiV2DocumentType();
  const msg = openApiV2Message(doc);
  const problem = T.verify(msg);
  if (problem) throw new OpenApiV2Error('OPENAPI_V2_ENCODE', `openapi v2 document does not fit openapi.v2.Document: ${problem}`);
  const pb = Buffer.from(T.encode(T.fromObject(msg)).finish());
  cached = { json, protobuf: pb, etag: `"${createHash('sha512').update(json).digest('hex').slice(0, 64).toUpperCase()}"` };
  return cached;
}

/** GET /openapi/v2: protobuf when the Accept header asks for it, JSON otherwise; ETag / If-None-Match. */
export function serveOpenApiV2(req: IncomingMessage, res: ServerResponse): void {
  const doc = openApiV2Bytes();
  const accept = req.headers.accept ?? '';
  const wantsProtobuf = /com\.github\.proto-openapi\.spec\.v2|application\/vnd\.kubernetes\.protobuf/.test(accept) && !/^\s*application\/json/.test(accept);
  const etag = wantsProtobuf ? doc.etag.replace(/"$/, '-pb"') : doc.etag;
  const headers: Record<string, string> = { Etag: etag, Vary: 'Accept', 'Content-Type': wantsProtobuf ? OPENAPI_V2_PROTOBUF_TYPE : 'application/json' };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, headers);
  res.end(wantsProtobuf ? doc.protobuf : doc.json);
}
