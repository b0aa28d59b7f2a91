/**
 * Protobuf encoding of Kubernetes list messages from their items' encodings.
 *
 * A list (ConfigMapList, PodList, ...) is `ListMeta metadata = 1; repeated T
 * items = 2;`: its bytes are the metadata field followed by one
 * length-delimited field per item, each holding exactly the item's own
 * encoding. Items served from the watch cache are shared, immutable objects,
 * so each is encoded once (remembered per object) however many lists carry
 * it, instead of converting every item JSON → protobuf on every list.
 */
import { jsonToBytes, messageType, type JsonObject } from '@mkube/api';

const LIST_META_TYPE = 'k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta';

/** Item object → its protobuf encoding, per item message type. */
const encodedItems = new WeakMap<object, { type: string; bytes: Uint8Array }>();

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function lengthDelimited(field: number, bytes: Uint8Array): Buffer[] {
  return [Buffer.from([...varint((field << 3) | 2), ...varint(bytes.length)]), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)];
}

/** The item's encoding as a `itemType` message, computed once per (object, type). */
export function encodeItem(itemType: string, item: JsonObject): Uint8Array {
  const known = encodedItems.get(item);
  if (known && known.type === itemType) return known.bytes;
  const bytes = jsonToBytes(itemType, item, { typeMeta: true }).bytes;
  encodedItems.set(item, { type: itemType, bytes });
  return bytes;
}

/** Field numbers of a list type's metadata and items, checked against the schema. */
function listFields(listType: string): { meta: number; items: number; itemType: string } {
  const t = messageType(listType);
  const meta = t.fields.metadata;
  const items = t.fields.items;
  if (!meta || !items || !items.repeated || !items.resolvedType) throw new Error(`${listType} is not a Kubernetes list message`);
  return { meta: meta.id, items: items.id, itemType: items.resolvedType.fullName.replace(/^\./, '') };
}

const fieldsCache = new Map<string, ReturnType<typeof listFields>>();

/** Encodes `{metadata, items}` as a `listType` message, reusing each item's cached encoding. */
export function encodeList(listType: string, metadata: JsonObject, items: readonly JsonObject[]): Buffer {
  let f = fieldsCache.get(listType);
  if (!f) {
    f = listFields(listType);
    fieldsCache.set(listType, f);
  }
  const parts: Buffer[] = [...lengthDelimited(f.meta, jsonToBytes(LIST_META_TYPE, metadata).bytes)];
  for (const item of items) parts.push(...lengthDelimited(f.items, encodeItem(f.itemType, item)));
  return Buffer.concat(parts);
}
