/**
 * Kubernetes JSON ↔ protobuf message objects ↔ protobuf bytes, by walking
 * the protobufjs reflection types of the mkube schema.
 *
 * Message objects are plain objects keyed by proto field names (int64 as
 * numbers, bytes as Uint8Array, maps as objects), the shape protobufjs'
 * Type.fromObject accepts and Type.toObject({ longs: Number }) returns.
 *
 * What is not a one-to-one field mapping lives in three small tables:
 *  - SPECIAL_TYPES: types with their own JSON form (Time, Quantity, ...);
 *  - INLINE_FIELDS: Go embedded structs, nested in proto but flat in JSON;
 *  - JSON_NAMES: the rare proto field whose name differs from its JSON key.
 */
import protobuf from 'protobufjs';
import { canonicalizeQuantity, QuantityError } from './quantity.js';
import { messageType } from './schema.js';
import { formatGoDuration, parseGoDuration } from './duration.js';
import { REQUIRED_SCALARS } from './required_scalars.js';
import { PROTO_ZERO_FIELDS } from './proto_zero_fields.js';
import { JSON_ZERO_FIELDS } from './json_zero_fields.js';
import { JSON_FIELD_ORDER } from './json_field_order.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
/** A protobuf message as a plain object keyed by proto field names. */
export type ProtoMessage = { [field: string]: unknown };

export type CodecErrorCode = 'JSON_TYPE_MISMATCH' | 'JSON_INVALID_VALUE' | 'PROTO_INVALID';

export class CodecError extends Error {
  constructor(readonly code: CodecErrorCode, readonly path: string, message: string) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'CodecError';
  }
}

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
export const TIME_TYPE = `${META}.Time`;
export const MICRO_TIME_TYPE = `${META}.MicroTime`;
export const DURATION_TYPE = `${META}.Duration`;
export const FIELDS_V1_TYPE = `${META}.FieldsV1`;
export const QUANTITY_TYPE = 'k8s.io.apimachinery.pkg.api.resource.Quantity';
export const INT_OR_STRING_TYPE = 'k8s.io.apimachinery.pkg.util.intstr.IntOrString';
export const RAW_EXTENSION_TYPE = 'k8s.io.apimachinery.pkg.runtime.RawExtension';

/** Go embedded structs: the proto field holds a message, JSON spreads its fields. */
export const INLINE_FIELDS: ReadonlySet<string> = new Set([
  'k8s.io.api.core.v1.ConfigMapEnvSource.localObjectReference',
  'k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference',
  'k8s.io.api.core.v1.ConfigMapProjection.localObjectReference',
  'k8s.io.api.core.v1.ConfigMapVolumeSource.localObjectReference',
  'k8s.io.api.core.v1.SecretEnvSource.localObjectReference',
  'k8s.io.api.core.v1.SecretKeySelector.localObjectReference',
  'k8s.io.api.core.v1.SecretProjection.localObjectReference',
  'k8s.io.api.core.v1.Probe.handler',
  'k8s.io.api.core.v1.Volume.volumeSource',
  'k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource',
  'k8s.io.api.networking.v1.IngressRule.ingressRuleValue',
  'k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon',
]);

/**
 * Go *string fields where "" means something other than unset, so upstream's
 * JSON keeps it: a claim's storageClassName "" asks for no class (unset gets
 * the default class); a hostPath type "" is the defaulted "no checks".
 */
export const POINTER_STRING_FIELDS: ReadonlySet<string> = new Set([
  'k8s.io.api.core.v1.PersistentVolumeClaimSpec.storageClassName',
  'k8s.io.api.core.v1.HostPathVolumeSource.type',
  'k8s.io.api.core.v1.PersistentVolumeClaimSpec.volumeAttributesClassName',
]);

/** Proto field name → JSON key, where they differ. */
export const JSON_NAMES: ReadonlyMap<string, string> = new Map([
  ['k8s.io.api.networking.v1.IngressClassParametersReference.aPIGroup', 'apiGroup'],
]);

function typeName(type: protobuf.Type): string {
  return type.fullName.startsWith('.') ? type.fullName.slice(1) : type.fullName;
}

interface JsonField {
  readonly field: protobuf.Field;
  /** Proto field names from the message down to the field (more than one when inlined). */
  readonly path: readonly string[];
}

/** How one proto field of a message maps to JSON, computed once per type. */
interface FieldPlan {
  readonly field: protobuf.Field;
  readonly name: string;
  readonly jsonKey: string;
  /** The message type of an inline (Go embedded) field, spread into the parent's JSON. */
  readonly inline: protobuf.Type | undefined;
  /** The field's message type, if it holds messages. */
  readonly message: protobuf.Type | undefined;
  readonly isMap: boolean;
  readonly repeated: boolean;
  /** The JSON of a zero value upstream writes anyway (a Go field without omitempty: required_scalars.ts). */
  readonly zero: JsonValue | undefined;
  /** A pointer string (*string in Go) whose "" is a value of its own and is written (POINTER_STRING_FIELDS). */
  readonly keepEmpty: boolean;
  /**
   * A non-pointer Go scalar (proto_zero_fields.ts): protobuf always carries it, JSON leaves out its zero
   * (0, false) unless required (required_scalars.ts), as omitempty does. An embedded struct decoded
   * empty stays {} in JSON: Go's encoding/json writes non-pointer structs even with omitempty.
   */
  readonly omitZero: boolean;
}

/** Everything the codec needs about a message type, computed once. */
interface TypePlan {
  readonly special: SpecialType | undefined;
  readonly fields: readonly FieldPlan[];
  /** JSON keys a message accepts, inline fields flattened. */
  readonly jsonFields: Map<string, JsonField>;
}

const planCache = new WeakMap<protobuf.Type, TypePlan>();

function plan(type: protobuf.Type): TypePlan {
  let p = planCache.get(type);
  if (p) return p;
  const tn = typeName(type);
  // Written when zero: OpenAPI's required scalars and the Go fields without omitempty (json_zero_fields.ts).
  const required = [...(REQUIRED_SCALARS.get(tn) ?? []), ...(JSON_ZERO_FIELDS.get(tn) ?? [])];
  const nonPointer = PROTO_ZERO_FIELDS.get(tn);
  // JSON keys in upstream's order (the Go declaration order, json_field_order.ts) where the proto's differs.
  const order = JSON_FIELD_ORDER.get(tn);
  const declared = order ? [...type.fieldsArray].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name)) : type.fieldsArray;
  const fields: FieldPlan[] = declared.map((field) => {
    const key = `${tn}.${field.name}`;
    const message = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    return {
      field,
      name: field.name,
      jsonKey: JSON_NAMES.get(key) ?? field.name,
      inline: INLINE_FIELDS.has(key) ? message : undefined,
      message,
      isMap: field instanceof protobuf.MapField,
      repeated: field.repeated,
      zero: required.includes(field.name) ? zeroJson(field) : undefined,
      keepEmpty: POINTER_STRING_FIELDS.has(key),
      omitZero: !message && (nonPointer?.includes(field.name) ?? false),
    };
  });
  const jsonFields = new Map<string, JsonField>();
  p = { special: SPECIAL_TYPES.get(tn), fields, jsonFields };
  planCache.set(type, p);
  for (const f of fields) {
    if (f.inline) {
      for (const [name, inner] of plan(f.inline).jsonFields) {
        jsonFields.set(name, { field: inner.field, path: [f.name, ...inner.path] });
      }
    } else {
      jsonFields.set(f.jsonKey, { field: f.field, path: [f.name] });
    }
  }
  return p;
}

/** The JSON keys a message accepts, with inline fields flattened. */
function jsonFields(type: protobuf.Type): Map<string, JsonField> {
  return plan(type).jsonFields;
}

/**
 * Where in the JSON document a value is, built only when an error or an
 * unknown field needs it as text (".spec.containers[0].image").
 */
export type JsonPath = { readonly parent: JsonPath; readonly key: string | number } | undefined;

function at(parent: JsonPath, key: string | number): JsonPath {
  return { parent, key };
}

export function jsonPathString(p: JsonPath): string {
  let out = '';
  for (let cur = p; cur; cur = cur.parent) out = (typeof cur.key === 'number' ? `[${cur.key}]` : `.${cur.key}`) + out;
  return out;
}

/** The JSON keys (top level, inline fields flattened) a message type accepts. */
export function jsonFieldNames(typeFullName: string): string[] {
  return [...jsonFields(messageType(typeFullName)).keys()];
}

// ---------------------------------------------------------------- JSON → proto

export interface FromJsonOptions {
  /** Accept (and drop) apiVersion/kind at the top level and on list items. */
  readonly typeMeta?: boolean;
}

export interface FromJsonResult {
  readonly message: ProtoMessage;
  /** JSON paths present in the input that the schema lacks, e.g. ".spec.containers[0].imagee". */
  readonly unknownFields: string[];
}

interface Walk {
  readonly unknown: string[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Converts Kubernetes JSON into a message object of the named type. */
export function fromJson(typeFullName: string, json: unknown, options: FromJsonOptions = {}): FromJsonResult {
  const walk: Walk = { unknown: [] };
  const message = messageFromJson(messageType(typeFullName), json, undefined, walk, options.typeMeta ?? false);
  return { message: message as ProtoMessage, unknownFields: walk.unknown };
}

function messageFromJson(type: protobuf.Type, json: unknown, path: JsonPath, walk: Walk, typeMeta: boolean): unknown {
  const p = plan(type);
  if (p.special) return p.special.fromJson(json, path);
  if (!isPlainObject(json)) {
    throw new CodecError('JSON_TYPE_MISMATCH', jsonPathString(path), `expected an object for ${type.name}, got ${describe(json)}`);
  }
  const fields = p.jsonFields;
  const out: ProtoMessage = {};
  for (const key in json) {
    if (!Object.prototype.hasOwnProperty.call(json, key)) continue;
    const value = json[key];
    const jf = fields.get(key);
    if (!jf) {
      if (!(typeMeta && (key === 'apiVersion' || key === 'kind'))) walk.unknown.push(jsonPathString(at(path, key)));
      continue;
    }
    if (value === null || value === undefined) continue;
    let target = out;
    for (let i = 0; i < jf.path.length - 1; i++) {
      target = (target[jf.path[i]!] ??= {}) as ProtoMessage;
    }
    const itemsTypeMeta = typeMeta && key === 'items' && jf.field.repeated;
    target[jf.path[jf.path.length - 1]!] = fieldFromJson(jf.field, value, at(path, key), walk, itemsTypeMeta);
  }
  return out;
}

function fieldFromJson(field: protobuf.Field, value: unknown, path: JsonPath, walk: Walk, itemsTypeMeta: boolean): unknown {
  if (field instanceof protobuf.MapField) {
    if (!isPlainObject(value)) {
      throw new CodecError('JSON_TYPE_MISMATCH', jsonPathString(path), `expected an object, got ${describe(value)}`);
    }
    const out: Record<string, unknown> = {};
    for (const k in value) {
      if (!Object.prototype.hasOwnProperty.call(value, k)) continue;
      const v = value[k];
      if (v === null || v === undefined) continue;
      setMapEntry(out, k, valueFromJson(field, v, at(path, k), walk, false));
    }
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) {
      throw new CodecError('JSON_TYPE_MISMATCH', jsonPathString(path), `expected an array, got ${describe(value)}`);
    }
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v === null || v === undefined) continue;
      const converted = valueFromJson(field, v, at(path, i), walk, itemsTypeMeta);
      if (converted !== undefined) out.push(converted);
    }
    return out;
  }
  return valueFromJson(field, value, path, walk, false);
}

function valueFromJson(field: protobuf.Field, value: unknown, path: JsonPath, walk: Walk, typeMeta: boolean): unknown {
  if (field.resolvedType instanceof protobuf.Type) {
    return messageFromJson(field.resolvedType, value, path, walk, typeMeta);
  }
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') throw mismatch(path, 'string', value);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw mismatch(path, 'boolean', value);
      return value;
    case 'bytes':
      return base64FromJson(value, path);
    case 'double':
    case 'float':
      if (typeof value !== 'number') throw mismatch(path, 'number', value);
      return value;
    default:
      if (typeof value !== 'number' || !Number.isInteger(value)) throw mismatch(path, 'integer', value);
      if (field.type === 'int32' && (value > 2147483647 || value < -2147483648)) {
        throw new CodecError('JSON_INVALID_VALUE', jsonPathString(path), `${value} overflows int32`);
      }
      return value;
  }
}

/**
 * Sets a map entry whose key comes from the wire: "__proto__" becomes an own
 * property (as JSON.parse makes it) instead of replacing the map's
 * prototype, so the key stays visible to whoever validates it.
 */
function setMapEntry(map: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
}

function mismatch(path: JsonPath, want: string, got: unknown): CodecError {
  return new CodecError('JSON_TYPE_MISMATCH', jsonPathString(path), `expected ${want}, got ${describe(got)}`);
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function base64FromJson(value: unknown, path: JsonPath): Uint8Array {
  if (typeof value !== 'string') throw mismatch(path, 'base64 string', value);
  if (value.length % 4 !== 0 || !BASE64_RE.test(value)) {
    throw new CodecError('JSON_INVALID_VALUE', jsonPathString(path), 'illegal base64 data');
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}

// ---------------------------------------------------------------- proto → JSON

export interface ToJsonOptions {
  /** Put apiVersion and kind first, as for a top-level object. */
  readonly apiVersion?: string;
  readonly kind?: string;
}

/** Converts a message object of the named type into Kubernetes JSON. */
export function toJson(typeFullName: string, message: ProtoMessage, options: ToJsonOptions = {}): JsonObject {
  const body = messageToJson(messageType(typeFullName), message);
  if (!isPlainObject(body)) {
    throw new CodecError('PROTO_INVALID', '', `${typeFullName} does not convert to a JSON object`);
  }
  const head: JsonObject = {};
  if (options.apiVersion) head.apiVersion = options.apiVersion;
  if (options.kind) head.kind = options.kind;
  return { ...head, ...(body as JsonObject) };
}

function messageToJson(type: protobuf.Type, message: unknown): JsonValue | undefined {
  const p = plan(type);
  if (p.special) return p.special.toJson(message as ProtoMessage);
  const msg = (message ?? {}) as ProtoMessage;
  const out: JsonObject = {};
  const fields = p.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const value = msg[f.name];
    if (value === null || value === undefined) {
      if (f.zero !== undefined) out[f.jsonKey] = f.zero;
      continue;
    }
    if (f.inline) {
      const inner = messageToJson(f.inline, value);
      if (isPlainObject(inner)) Object.assign(out, inner);
      continue;
    }
    const json = fieldToJson(f, value);
    if (f.omitZero && f.zero === undefined && isProtoZeroJson(json)) continue;
    if (json !== undefined) out[f.jsonKey] = json;
    else if (f.zero !== undefined) out[f.jsonKey] = f.zero;
    else if (f.keepEmpty && value === '') out[f.jsonKey] = '';
  }
  return out;
}

/** 0 or false: a non-pointer scalar's zero as decoded from protobuf. */
function isProtoZeroJson(json: JsonValue | undefined): boolean {
  return json === 0 || json === false;
}

/** The JSON zero of a scalar field: "", false or 0. */
function zeroJson(field: protobuf.Field): JsonValue {
  if (field.type === 'string') return '';
  if (field.type === 'bool') return false;
  return 0;
}

function fieldToJson(f: FieldPlan, value: unknown): JsonValue | undefined {
  if (f.isMap) {
    const map = value as Record<string, unknown>;
    let out: JsonObject | undefined;
    for (const k in map) {
      if (!Object.prototype.hasOwnProperty.call(map, k)) continue;
      const json = valueToJson(f, map[k]);
      setMapEntry((out ??= {}), k, json === undefined ? emptyFor(f.field) : json);
    }
    return out;
  }
  if (f.repeated) {
    const items = value as unknown[];
    if (items.length === 0) return undefined;
    const out: JsonValue[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) out[i] = valueToJson(f, items[i]) ?? emptyFor(f.field);
    return out;
  }
  return valueToJson(f, value);
}

/** JSON for a zero value inside a list or map, where it cannot be omitted. */
function emptyFor(field: protobuf.Field): JsonValue {
  if (field.resolvedType instanceof protobuf.Type) return null;
  return field.type === 'string' || field.type === 'bytes' ? '' : 0;
}

function valueToJson(f: FieldPlan, value: unknown): JsonValue | undefined {
  if (f.message) return messageToJson(f.message, value);
  switch (f.field.type) {
    case 'string':
      return value === '' ? undefined : (value as string);
    case 'bool':
      return value as boolean;
    case 'bytes':
      return Buffer.from(value as Uint8Array).toString('base64');
    default:
      return toNumber(value);
  }
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Number(value);
  if (typeof value === 'bigint') return Number(value);
  // protobufjs Long
  return Number(String(value));
}

// ---------------------------------------------------------------- special types

interface SpecialType {
  fromJson(json: unknown, path: JsonPath): ProtoMessage;
  toJson(message: ProtoMessage | undefined): JsonValue | undefined;
}

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses an RFC 3339 timestamp into Unix seconds and nanoseconds. */
export function parseRfc3339(text: string): { seconds: number; nanos: number } {
  if (text === lastParsedText) return { seconds: lastParsed.seconds, nanos: lastParsed.nanos };
  const t = parseRfc3339Uncached(text);
  lastParsedText = text;
  lastParsed = t;
  return { seconds: t.seconds, nanos: t.nanos };
}

let lastParsedText = '';
let lastParsed = { seconds: 0, nanos: 0 };

function parseRfc3339Uncached(text: string): { seconds: number; nanos: number } {
  const m = RFC3339_RE.exec(text);
  if (!m) throw new Error(`"${text}" is not an RFC 3339 time`);
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let seconds = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!) / 1000;
  const check = new Date(seconds * 1000);
  if (check.getUTCDate() !== +d! || check.getUTCMonth() !== +mo! - 1 || +h! > 23 || +mi! > 59 || +s! > 59) {
    throw new Error(`"${text}" is not a valid time`);
  }
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone![0] === '-' ? -1 : 1;
    seconds -= sign * (Number(zone!.slice(1, 3)) * 3600 + Number(zone!.slice(4, 6)) * 60);
  }
  const nanos = frac ? Number(frac.slice(1, 10).padEnd(9, '0')) : 0;
  return { seconds, nanos };
}

/** The last second formatted: objects written close together share their timestamps. */
let lastSecond = NaN;
let lastBase = '';

/** Formats Unix seconds (+ optional fraction digits) as RFC 3339 in UTC. */
export function formatRfc3339(seconds: number, nanos = 0, fractionDigits = 0): string {
  if (seconds !== lastSecond) {
    lastBase = new Date(seconds * 1000).toISOString().slice(0, 19); // YYYY-MM-DDTHH:MM:SS
    lastSecond = seconds;
  }
  const base = lastBase;
  if (fractionDigits === 0) return `${base}Z`;
  return `${base}.${String(nanos).padStart(9, '0').slice(0, fractionDigits)}Z`;
}

function timeFromJson(json: unknown, path: JsonPath, micro: boolean): ProtoMessage {
  if (typeof json !== 'string') throw mismatch(path, 'RFC 3339 time string', json);
  let t: { seconds: number; nanos: number };
  try {
    t = parseRfc3339(json);
  } catch (err) {
    throw new CodecError('JSON_INVALID_VALUE', jsonPathString(path), (err as Error).message);
  }
  // metav1.Time carries whole seconds on the wire; MicroTime carries microseconds.
  const nanos = micro ? Math.floor(t.nanos / 1000) * 1000 : 0;
  return nanos === 0 ? { seconds: t.seconds } : { seconds: t.seconds, nanos };
}

function timeToJson(message: ProtoMessage | undefined, micro: boolean): JsonValue | undefined {
  if (!message || (message.seconds == null && message.nanos == null)) return undefined;
  const seconds = toNumber(message.seconds ?? 0);
  const nanos = toNumber(message.nanos ?? 0);
  return micro ? formatRfc3339(seconds, nanos, 6) : formatRfc3339(seconds);
}

const utf8 = new TextEncoder();

function jsonBytes(json: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(json));
}

function parseJsonBytes(raw: unknown): JsonValue | undefined {
  if (!(raw instanceof Uint8Array) || raw.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8')) as JsonValue;
  } catch {
    return undefined;
  }
}

/** user.Info extra values: a message holding []string on the wire, a plain string array in JSON. */
const EXTRA_VALUE: SpecialType = {
  fromJson(json, path) {
    if (!Array.isArray(json) || json.some((v) => typeof v !== 'string')) throw mismatch(path, 'array of strings', json);
    return { items: [...(json as string[])] };
  },
  toJson: (m) => (Array.isArray(m?.items) ? (m.items as string[]).map(String) : []),
};

export const SPECIAL_TYPES: ReadonlyMap<string, SpecialType> = new Map<string, SpecialType>([
  [TIME_TYPE, { fromJson: (j, p) => timeFromJson(j, p, false), toJson: (m) => timeToJson(m, false) }],
  [MICRO_TIME_TYPE, { fromJson: (j, p) => timeFromJson(j, p, true), toJson: (m) => timeToJson(m, true) }],
  [
    DURATION_TYPE,
    {
      fromJson(json, path) {
        if (typeof json !== 'string') throw mismatch(path, 'duration string', json);
        try {
          return { duration: parseGoDuration(json) };
        } catch (err) {
          throw new CodecError('JSON_INVALID_VALUE', jsonPathString(path), (err as Error).message);
        }
      },
      toJson: (m) => formatGoDuration(toNumber(m?.duration ?? 0)),
    },
  ],
  [
    QUANTITY_TYPE,
    {
      fromJson(json, path) {
        if (typeof json !== 'string' && typeof json !== 'number') throw mismatch(path, 'quantity', json);
        try {
          return { string: canonicalizeQuantity(String(json)) };
        } catch (err) {
          if (err instanceof QuantityError) throw new CodecError('JSON_INVALID_VALUE', jsonPathString(path), err.message);
          throw err;
        }
      },
      toJson: (m) => ((m?.string as string | undefined) || '0'),
    },
  ],
  [
    INT_OR_STRING_TYPE,
    {
      fromJson(json, path) {
        if (typeof json === 'string') return { type: 1, strVal: json };
        if (typeof json === 'number' && Number.isInteger(json)) return { type: 0, intVal: json };
        throw mismatch(path, 'integer or string', json);
      },
      toJson: (m) => (toNumber(m?.type ?? 0) === 1 ? ((m?.strVal as string | undefined) ?? '') : toNumber(m?.intVal ?? 0)),
    },
  ],
  [FIELDS_V1_TYPE, { fromJson: (j) => ({ Raw: jsonBytes(j) }), toJson: (m) => parseJsonBytes(m?.Raw) ?? {} }],
  [RAW_EXTENSION_TYPE, { fromJson: (j) => ({ raw: jsonBytes(j) }), toJson: (m) => parseJsonBytes(m?.raw) ?? null }],
  ['k8s.io.api.authentication.v1.ExtraValue', EXTRA_VALUE],
  ['k8s.io.api.authorization.v1.ExtraValue', EXTRA_VALUE],
]);

// ---------------------------------------------------------------- bytes

/** Encodes a message object of the named type to protobuf bytes. */
export function encodeMessage(typeFullName: string, message: ProtoMessage): Uint8Array {
  const type = messageType(typeFullName);
  const err = type.verify(message);
  if (err) throw new CodecError('PROTO_INVALID', '', `${typeFullName}: ${err}`);
  return type.encode(type.fromObject(withProtoZeros(type, message) as ProtoMessage)).finish();
}

/**
 * The zero a non-pointer Go field is written with when absent: "", false, 0 or an empty message; a zero
 * resource.Quantity is written as its String(), "0" (quantity_proto.go).
 */
function protoZero(field: protobuf.Field): unknown {
  if (field.resolvedType instanceof protobuf.Type) return typeName(field.resolvedType) === QUANTITY_TYPE ? { string: '0' } : {};
  if (field.type === 'string') return field.parent instanceof protobuf.Type && typeName(field.parent) === QUANTITY_TYPE ? '0' : '';
  if (field.type === 'bool') return false;
  if (field.type === 'bytes') return new Uint8Array(0);
  return 0;
}

const reachesCache = new WeakMap<protobuf.Type, boolean>();

/**
 * Whether a message type or one nested in it has PROTO_ZERO_FIELDS. A special type (JSON form of its
 * own) is filled only from its own entry (IntOrString writes type, intVal and strVal; Time none).
 */
function reachesZeroFields(type: protobuf.Type): boolean {
  return reachesFrom(type, new Set()).reaches;
}

/**
 * Depth-first over nested message types; a type met again on the current path counts as not
 * reaching, so a "no" below a cycle is cached only once the whole cycle has been explored.
 */
function reachesFrom(type: protobuf.Type, path: Set<protobuf.Type>): { reaches: boolean; open: Set<protobuf.Type> } {
  const known = reachesCache.get(type);
  if (known !== undefined) return { reaches: known, open: new Set() };
  if (path.has(type)) return { reaches: false, open: new Set([type]) };
  const tn = typeName(type);
  if (SPECIAL_TYPES.has(tn)) {
    const own = PROTO_ZERO_FIELDS.has(tn) || TIMESTAMP_TYPES.has(tn);
    reachesCache.set(type, own);
    return { reaches: own, open: new Set() };
  }
  let reaches = PROTO_ZERO_FIELDS.has(tn);
  const open = new Set<protobuf.Type>();
  path.add(type);
  for (const field of type.fieldsArray) {
    if (reaches) break;
    if (!(field.resolvedType instanceof protobuf.Type)) continue;
    const inner = reachesFrom(field.resolvedType, path);
    reaches = inner.reaches;
    for (const t of inner.open) open.add(t);
  }
  path.delete(type);
  open.delete(type);
  if (reaches || open.size === 0) reachesCache.set(type, reaches);
  return { reaches, open: reaches ? new Set() : open };
}

/**
 * metav1.Time and MicroTime marshal as a Timestamp (time_proto.go, micro_time_proto.go): nothing for a zero
 * time, else both of its non-pointer fields, seconds and nanos, even when 0.
 */
const TIMESTAMP_TYPES = new Set([TIME_TYPE, MICRO_TIME_TYPE]);

/** Per message type reaching PROTO_ZERO_FIELDS: its always-written fields and the fields to walk into. */
interface ZeroPlan {
  /** Each always-written field with its zero (computed once: protobufjs' fullName is costly; the values are never mutated). */
  readonly zeros: readonly FieldZero[];
  /** Fields written, zero or not, once any of them is set (a Timestamp's seconds and nanos). */
  readonly whenSet: readonly FieldZero[];
  readonly nested: readonly { readonly field: protobuf.Field; readonly type: protobuf.Type; readonly kind: 'one' | 'list' | 'map' }[];
}

interface FieldZero {
  readonly name: string;
  readonly zero: unknown;
}

const zeroPlans = new WeakMap<protobuf.Type, ZeroPlan | null>();

function zeroPlan(type: protobuf.Type): ZeroPlan | null {
  let p = zeroPlans.get(type);
  if (p !== undefined) return p;
  if (!reachesZeroFields(type)) {
    p = null;
  } else {
    const names = PROTO_ZERO_FIELDS.get(typeName(type)) ?? [];
    const withZero = (field: protobuf.Field): FieldZero => ({ name: field.name, zero: protoZero(field) });
    p = {
      zeros: names.map((n) => withZero(type.fields[n]!)),
      whenSet: TIMESTAMP_TYPES.has(typeName(type)) ? type.fieldsArray.map(withZero) : [],
      nested: type.fieldsArray.flatMap((field) => {
        const inner = field.resolvedType;
        if (!(inner instanceof protobuf.Type) || !reachesZeroFields(inner)) return [];
        const kind = field instanceof protobuf.MapField ? 'map' : field.repeated ? 'list' : 'one';
        return [{ field, type: inner, kind } as const];
      }),
    };
  }
  zeroPlans.set(type, p);
  return p;
}

/**
 * A copy of a message object with upstream's always-written fields filled in
 * (PROTO_ZERO_FIELDS), down through nested messages, lists and maps; the
 * input is not changed. Types that reach no such field are passed through.
 */
function withProtoZeros(type: protobuf.Type, message: unknown): unknown {
  if (message === null || typeof message !== 'object') return message;
  const p = zeroPlan(type);
  if (!p) return message;
  const out: ProtoMessage = { ...(message as ProtoMessage) };
  for (const { name, zero } of p.zeros) {
    if (out[name] === undefined || out[name] === null) out[name] = zero;
  }
  if (p.whenSet.length > 0 && p.whenSet.some((f) => out[f.name] !== undefined && out[f.name] !== null)) {
    for (const { name, zero } of p.whenSet) if (out[name] === undefined || out[name] === null) out[name] = zero;
  }
  for (const { field, type: inner, kind } of p.nested) {
    const value = out[field.name];
    if (value === undefined || value === null) continue;
    if (kind === 'map') {
      const map: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) map[k] = withProtoZeros(inner, v);
      out[field.name] = map;
    } else if (kind === 'list') {
      out[field.name] = (value as unknown[]).map((v) => withProtoZeros(inner, v));
    } else {
      out[field.name] = withProtoZeros(inner, value);
    }
  }
  return out;
}

/** Decodes protobuf bytes into a message object of the named type. */
export function decodeMessage(typeFullName: string, bytes: Uint8Array): ProtoMessage {
  const type = messageType(typeFullName);
  let decoded: protobuf.Message;
  try {
    decoded = type.decode(bytes);
  } catch (err) {
    throw new CodecError('PROTO_INVALID', '', `${typeFullName}: ${(err as Error).message}`);
  }
  return type.toObject(decoded, { longs: Number }) as ProtoMessage;
}

/** Kubernetes JSON → protobuf bytes. */
export function jsonToBytes(typeFullName: string, json: unknown, options: FromJsonOptions = {}): FromJsonResult & { bytes: Uint8Array } {
  const result = fromJson(typeFullName, json, options);
  return { ...result, bytes: encodeMessage(typeFullName, result.message) };
}

/** Protobuf bytes → Kubernetes JSON. */
export function bytesToJson(typeFullName: string, bytes: Uint8Array, options: ToJsonOptions = {}): JsonObject {
  return toJson(typeFullName, decodeMessage(typeFullName, bytes), options);
}
