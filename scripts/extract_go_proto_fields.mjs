// Extracts upstream's Go struct facts that decide which fields its protobuf encoding always writes:
// for every API struct (k8s.io/api/..., apimachinery's meta/v1, intstr, resource, runtime), each field
// with a `protobuf:"..."` tag, its proto name and number, its Go type, that type's kind (ptr, slice,
// map, struct, string, int32, ...: a named type's kind is its underlying type's, v1.ResourceList is a map)
// and its json tag ("availableReplicas", "minReadySeconds,omitempty"; "" when it has none). The facts are read from the Go runtime type metadata of a
// kubectl binary (reflect needs every API struct's fields, types and tags, so they survive
// stripping): the .typelink section lists the unnamed types (pointers, slices, maps...), whose element
// types lead to the named structs; abi.StructType's fields give each field's name+tag and type.
// Only the packages mkube declares protos for are kept.
// Output: packages/api/facts/go_proto_fields.json (committed; read by scripts/gen_proto_zero_fields.mjs).
// Usage: node scripts/extract_go_proto_fields.mjs [/usr/lib/google-cloud-sdk/bin/kubectl.1.33]
// Layout assumed: Go 1.21+ on amd64, non-PIE ELF (abi.Type is 48 bytes; StructType adds PkgPath,
// Fields; UncommonType follows at 80 and starts with the package path's name offset).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const binPath = process.argv[2] ?? '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const bin = readFileSync(binPath);

// ELF64 section headers.
const shoff = Number(bin.readBigUInt64LE(0x28));
const shentsize = bin.readUInt16LE(0x3a);
const shnum = bin.readUInt16LE(0x3c);
const shstrndx = bin.readUInt16LE(0x3e);
const sections = [];
for (let i = 0; i < shnum; i++) {
  const o = shoff + i * shentsize;
  sections.push({
    nameOff: bin.readUInt32LE(o),
    addr: Number(bin.readBigUInt64LE(o + 16)),
    off: Number(bin.readBigUInt64LE(o + 24)),
    size: Number(bin.readBigUInt64LE(o + 32)),
  });
}
const strtab = sections[shstrndx];
for (const s of sections) {
  const start = strtab.off + s.nameOff;
  s.name = bin.toString('latin1', start, bin.indexOf(0, start));
}
const section = (name) => {
  const s = sections.find((x) => x.name === name);
  if (!s) throw new Error(`${binPath}: no ${name} section (not a Go binary?)`);
  return s;
};
const rodata = section('.rodata');
const typelink = section('.typelink');
// moduledata.types: type and name offsets are relative to the start of .rodata.
const typesBase = rodata.addr;

function fileOffset(va) {
  for (const s of sections) if (s.addr && va >= s.addr && va < s.addr + s.size) return va - s.addr + s.off;
  throw new Error(`address 0x${va.toString(16)} is in no section`);
}
const u64 = (o) => Number(bin.readBigUInt64LE(o));

function uvarint(o) {
  let v = 0;
  let shift = 0;
  for (;;) {
    const b = bin[o++];
    v += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [v, o];
    shift += 7;
  }
}

/** abi.Name: flags byte, varint length, bytes, then (flag 1<<1) varint tag length and tag. */
function readName(o) {
  const flags = bin[o];
  const [len, p] = uvarint(o + 1);
  const name = bin.toString('utf8', p, p + len);
  let tag = '';
  if (flags & 2) {
    const [tlen, q] = uvarint(p + len);
    tag = bin.toString('utf8', q, q + tlen);
  }
  return { name, tag };
}

const KIND_MASK = 0x1f;
const K = { ARRAY: 17, MAP: 21, POINTER: 22, SLICE: 23, STRUCT: 25 };
/** reflect.Kind names (a named type's kind is its underlying type's: v1.ResourceList is a map). */
const KIND_NAMES = {
  1: 'bool', 2: 'int', 3: 'int8', 4: 'int16', 5: 'int32', 6: 'int64', 7: 'uint', 8: 'uint8', 9: 'uint16', 10: 'uint32',
  11: 'uint64', 13: 'float32', 14: 'float64', 17: 'array', 20: 'interface', 21: 'map', 22: 'ptr', 23: 'slice', 24: 'string', 25: 'struct',
};
const TFLAG_UNCOMMON = 1;
const TFLAG_EXTRA_STAR = 2;
const TFLAG_NAMED = 4;

function readType(va) {
  const o = fileOffset(va);
  const tflag = bin[o + 20];
  const kind = bin[o + 23] & KIND_MASK;
  const str = readName(fileOffset(typesBase + bin.readInt32LE(o + 40))).name;
  return { o, tflag, kind, str: tflag & TFLAG_EXTRA_STAR ? str.slice(1) : str };
}

// The Go packages whose protos mkube declares (proto/k8s.io/api/<group>/<version>, apimachinery's).
const WANTED = new Set(['k8s.io/apimachinery/pkg/apis/meta/v1', 'k8s.io/apimachinery/pkg/util/intstr', 'k8s.io/apimachinery/pkg/api/resource', 'k8s.io/apimachinery/pkg/runtime']);
for (const group of readdirSync(join(root, 'proto/k8s.io/api'))) {
  for (const version of readdirSync(join(root, 'proto/k8s.io/api', group))) WANTED.add(`k8s.io/api/${group}/${version}`);
}
const structs = new Map();
const seen = new Set();

function visit(va) {
  if (!va || seen.has(va)) return;
  seen.add(va);
  const t = readType(va);
  if (t.kind === K.POINTER || t.kind === K.SLICE || t.kind === K.ARRAY) {
    visit(u64(t.o + 48));
  } else if (t.kind === K.MAP) {
    visit(u64(t.o + 48));
    visit(u64(t.o + 56));
  } else if (t.kind === K.STRUCT) {
    const fieldsVa = u64(t.o + 56);
    const count = u64(t.o + 64);
    const fields = [];
    for (let i = 0; i < count; i++) {
      const fo = fileOffset(fieldsVa + i * 24);
      const { name, tag } = readName(fileOffset(u64(fo)));
      const typeVa = u64(fo + 8);
      const ft = readType(typeVa);
      fields.push({ name, tag, type: ft.str, kind: KIND_NAMES[ft.kind] ?? `kind${ft.kind}` });
      visit(typeVa);
    }
    if (!(t.tflag & TFLAG_NAMED) || !(t.tflag & TFLAG_UNCOMMON)) return;
    const pkgPath = readName(fileOffset(typesBase + bin.readInt32LE(t.o + 80))).name;
    if (!WANTED.has(pkgPath)) return;
    structs.set(`${pkgPath}.${t.str.slice(t.str.lastIndexOf('.') + 1)}`, fields);
  }
}

for (let i = 0; i < typelink.size; i += 4) visit(typesBase + bin.readInt32LE(typelink.off + i));

/** Go package path → proto package ("k8s.io/api/apps/v1" → "k8s.io.api.apps.v1"). */
const protoPackage = (pkgPath) => pkgPath.replaceAll('/', '.');

const out = {};
for (const key of [...structs.keys()].sort()) {
  const dot = key.lastIndexOf('.');
  const rows = [];
  for (const f of structs.get(key)) {
    const m = /(?:^|\s)protobuf:"([^"]*)"/.exec(f.tag);
    if (!m || m[1] === '-') continue;
    const parts = m[1].split(',');
    // An embedded struct's tag may carry no name= (EphemeralContainerCommon: "bytes,1,req"): go-to-protobuf
    // names it after the Go field, first letter lowered.
    const name = parts.find((p) => p.startsWith('name='))?.slice(5) ?? f.name.charAt(0).toLowerCase() + f.name.slice(1);
    const json = /(?:^|\s)json:"([^"]*)"/.exec(f.tag)?.[1] ?? '';
    rows.push([name, Number(parts[1]), f.type, f.kind, json]);
  }
  if (rows.length > 0) out[`${protoPackage(key.slice(0, dot))}.${key.slice(dot + 1)}`] = rows;
}

let version = '';
try {
  const v = JSON.parse(execFileSync(binPath, ['version', '--client', '-o', 'json'], { encoding: 'utf8' })).clientVersion;
  version = `${v.gitVersion} (${v.gitCommit}, ${v.goVersion})`;
} catch {
  version = 'unknown';
}

const target = join(root, 'packages/api/facts/go_proto_fields.json');
const previous = (() => {
  try {
    return JSON.parse(readFileSync(target, 'utf8'));
  } catch {
    return {};
  }
})();
const doc = {
  source: `Go type metadata of kubectl ${version}; each row: proto field name, field number, Go type, Go kind, json tag`,
  // Hand-kept facts for packages kubectl does not link (kept across re-extraction).
  handwritten: previous.handwritten ?? {},
  structs: out,
};
writeFileSync(target, JSON.stringify(doc, null, 0).replace(/\],"/g, '],\n"').replace(/\]\],/g, ']],\n') + '\n');
console.log(`${Object.keys(out).length} structs from ${binPath} (${version}) -> ${target}`);
