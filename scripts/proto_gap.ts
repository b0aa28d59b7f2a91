/**
 * Measures how far mkube's proto schema (proto/k8s.io/**) is behind upstream
 * Kubernetes: for every message mkube declares, the fields upstream's
 * generated.proto has that ours lacks, and any field whose number, name,
 * type or cardinality disagrees with upstream's.
 *
 * Upstream's schema is read from a kubectl binary of the wanted release: its
 * Go protobuf registrations carry each generated.proto as a gzipped
 * FileDescriptorProto (names, numbers, types; no comments), so the release
 * compared with is exactly the kubectl's (default: kubectl 1.33 of the Cloud
 * SDK on the machine; --kubectl PATH or MKUBE_UPSTREAM_KUBECTL to override).
 *
 * Usage: node --import tsx scripts/proto_gap.ts [--kubectl PATH] [--json | --upstream MESSAGE]
 * Prints one line per message with a gap and a total; exit code 0 either way
 * (packages/api/test/proto_gap.test.ts asserts the gap).
 */
import { existsSync, readFileSync } from 'node:fs';
import { constants, inflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { loadSchema, PROTO_FILES } from '../packages/api/src/schema.js';

export const DEFAULT_UPSTREAM_KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';

/** One field as both schemas describe it: proto type name without the leading dot, "repeated"/"map"/"" cardinality. */
export interface FieldShape {
  name: string;
  id: number;
  type: string;
  rule: '' | 'repeated' | 'map';
}

export interface MessageGap {
  /** Full message name, e.g. k8s.io.api.core.v1.Container. */
  message: string;
  /** Upstream fields (by number) ours lacks. */
  missing: FieldShape[];
  /** Fields present in both whose name, type or cardinality differ ("field 24: ours x, upstream y"). */
  mismatched: string[];
}

export interface GapReport {
  kubectl: string;
  /** Messages mkube declares that upstream has too. */
  comparedMessages: number;
  /** Messages mkube declares that upstream lacks (mkube's own, or removed upstream). */
  oursOnly: string[];
  /** Fields whose proto name differs from upstream's only in case (ours is the JSON key): accepted. */
  renamed: string[];
  gaps: MessageGap[];
  missingFields: number;
  mismatchedFields: number;
}

export class ProtoGapError extends Error {
  constructor(readonly code: 'PROTO_GAP_NO_KUBECTL' | 'PROTO_GAP_NO_DESCRIPTORS', message: string) {
    super(message);
    this.name = 'ProtoGapError';
  }
}

interface DescField { name: string; number: number; label: number; type: number; typeName?: string }
interface DescMessage { name: string; field?: DescField[]; nestedType?: DescMessage[]; options?: { mapEntry?: boolean } }
interface DescFile { name: string; package: string; messageType?: DescMessage[] }

/** FieldDescriptorProto.Type numbers → proto scalar names (message/enum types carry typeName). */
const SCALAR_BY_TYPE: Record<number, string> = {
  1: 'double', 2: 'float', 3: 'int64', 4: 'uint64', 5: 'int32', 6: 'fixed64', 7: 'fixed32', 8: 'bool',
  9: 'string', 12: 'bytes', 13: 'uint32', 15: 'sfixed32', 16: 'sfixed64', 17: 'sint32', 18: 'sint64',
};
const LABEL_REPEATED = 3;

/**
 * Every gzipped FileDescriptorProto in a Go binary whose file name is one of
 * `wanted`, keyed by that name.
 */
export function descriptorsFromBinary(path: string, wanted: ReadonlySet<string>): Map<string, DescFile> {
  if (!existsSync(path)) throw new ProtoGapError('PROTO_GAP_NO_KUBECTL', `no upstream kubectl at ${path} (--kubectl PATH)`);
  const data = readFileSync(path);
  const found = new Map<string, DescFile>();
  const names = [...wanted].map((n) => Buffer.from(n));
  for (let i = data.indexOf(0x1f); i >= 0 && found.size < wanted.size; i = data.indexOf(0x1f, i + 1)) {
    // A gzip member as Go writes it: magic, deflate, no optional header fields (FLG 0), 10-byte header.
    if (data[i + 1] !== 0x8b || data[i + 2] !== 0x08 || data[i + 3] !== 0) continue;
    let raw: Buffer;
    try {
      // Raw inflate stops at the end of the deflate stream (gunzip would run on into an adjacent
      // member and concatenate two descriptors); a descriptor is well under 1 MiB compressed.
      raw = inflateRawSync(data.subarray(i + 10, Math.min(data.length, i + 10 + (1 << 20))), { finishFlush: constants.Z_SYNC_FLUSH });
    } catch {
      continue;
    }
    // FileDescriptorProto starts with field 1 (name): tag 0x0a, length, bytes.
    if (raw[0] !== 0x0a) continue;
    const name = raw.subarray(2, 2 + raw[1]!);
    if (!names.some((n) => n.equals(name))) continue;
    const file = descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(raw), { defaults: false }) as unknown as DescFile;
    found.set(file.name, file);
  }
  return found;
}

/** Upstream's messages (nested ones included, map entries left out) as full name → fields. */
export function upstreamMessages(files: Iterable<DescFile>): Map<string, FieldShape[]> {
  const out = new Map<string, FieldShape[]>();
  const visit = (prefix: string, m: DescMessage, mapEntries: Map<string, DescMessage>): void => {
    const full = `${prefix}.${m.name}`;
    for (const n of m.nestedType ?? []) if (!n.options?.mapEntry) visit(full, n, mapEntries);
    out.set(full, (m.field ?? []).map((f) => {
      const typeName = f.typeName?.replace(/^\./, '');
      if (typeName && mapEntries.has(typeName)) {
        const value = mapEntries.get(typeName)!.field!.find((v) => v.number === 2)!;
        return { name: f.name, id: f.number, type: value.typeName?.replace(/^\./, '') ?? SCALAR_BY_TYPE[value.type]!, rule: 'map' };
      }
      return { name: f.name, id: f.number, type: typeName ?? SCALAR_BY_TYPE[f.type]!, rule: f.label === LABEL_REPEATED ? 'repeated' : '' };
    }));
  };
  for (const file of files) {
    const mapEntries = new Map<string, DescMessage>();
    // Map entries are nested in the message that uses them: collect before visiting fields.
    const collect = (prefix: string, m: DescMessage): void => {
      for (const n of m.nestedType ?? []) {
        if (n.options?.mapEntry) mapEntries.set(`${prefix}.${m.name}.${n.name}`, n);
        else collect(`${prefix}.${m.name}`, n);
      }
    };
    for (const m of file.messageType ?? []) collect(file.package, m);
    for (const m of file.messageType ?? []) visit(file.package, m, mapEntries);
  }
  return out;
}

/** mkube's messages from the schema files as full name → fields. */
function ourMessages(root: protobuf.Root): Map<string, FieldShape[]> {
  const out = new Map<string, FieldShape[]>();
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Type) {
        out.set(child.fullName.replace(/^\./, ''), child.fieldsArray.map((f) => ({
          name: f.name,
          id: f.id,
          type: f.resolvedType ? f.resolvedType.fullName.replace(/^\./, '') : f.type,
          rule: f.map ? 'map' : f.repeated ? 'repeated' : '',
        })));
      }
      if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) visit(child);
    }
  };
  visit(root);
  return out;
}

const shape = (f: FieldShape): string => `${f.rule ? `${f.rule} ` : ''}${f.type} ${f.name} = ${f.id}`;

/** Compares mkube's schema with the kubectl binary's descriptors of the same files. */
export function protoGap(kubectl: string = process.env.MKUBE_UPSTREAM_KUBECTL ?? DEFAULT_UPSTREAM_KUBECTL): GapReport {
  const k8sFiles = PROTO_FILES.filter((f) => f.startsWith('k8s.io/'));
  const files = descriptorsFromBinary(kubectl, new Set(k8sFiles));
  if (files.size === 0) throw new ProtoGapError('PROTO_GAP_NO_DESCRIPTORS', `${kubectl} carries no k8s.io generated.proto descriptors`);
  const upstream = upstreamMessages(files.values());
  const ours = ourMessages(loadSchema());
  const report: GapReport = { kubectl, comparedMessages: 0, oursOnly: [], renamed: [], gaps: [], missingFields: 0, mismatchedFields: 0 };
  for (const [message, fields] of [...ours].sort(([a], [b]) => a.localeCompare(b))) {
    if (!message.startsWith('k8s.io.')) continue;
    const theirs = upstream.get(message);
    if (!theirs) {
      report.oursOnly.push(message);
      continue;
    }
    report.comparedMessages++;
    const byId = new Map(fields.map((f) => [f.id, f]));
    const missing = theirs.filter((f) => !byId.has(f.id)).sort((a, b) => a.id - b.id);
    const mismatched: string[] = [];
    for (const f of theirs) {
      const mine = byId.get(f.id);
      if (!mine || shape(mine) === shape(f)) continue;
      // Upstream's proto name comes from the Go field (UID → uID); ours may be the JSON key instead.
      if (shape({ ...mine, name: f.name }) === shape(f) && mine.name.toLowerCase() === f.name.toLowerCase()) {
        report.renamed.push(`${message}.${f.name} (ours ${mine.name})`);
        continue;
      }
      mismatched.push(`field ${f.id}: ours ${shape(mine)}, upstream ${shape(f)}`);
    }
    if (missing.length || mismatched.length) report.gaps.push({ message, missing, mismatched });
    report.missingFields += missing.length;
    report.mismatchedFields += mismatched.length;
  }
  return report;
}

function main(argv: string[]): void {
  const at = argv.indexOf('--kubectl');
  const kubectl = at >= 0 ? argv[at + 1] : undefined;
  const up = argv.indexOf('--upstream');
  if (up >= 0) {
    // --upstream MESSAGE: upstream's fields of one message, as JSON.
    const message = argv[up + 1] ?? '';
    const files = descriptorsFromBinary(kubectl ?? process.env.MKUBE_UPSTREAM_KUBECTL ?? DEFAULT_UPSTREAM_KUBECTL, new Set(PROTO_FILES));
    process.stdout.write(`${JSON.stringify(upstreamMessages(files.values()).get(message) ?? null)}\n`);
    return;
  }
  const report = protoGap(kubectl);
  if (argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  for (const g of report.gaps) {
    process.stdout.write(`${g.message}: ${g.missing.map(shape).join('; ')}${g.mismatched.length ? ` | mismatched: ${g.mismatched.join('; ')}` : ''}\n`);
  }
  process.stdout.write(`upstream ${report.kubectl}: ${report.comparedMessages} messages compared, ${report.missingFields} fields missing in ${report.gaps.filter((g) => g.missing.length).length} messages, ${report.mismatchedFields} mismatched, ${report.renamed.length} named by their JSON key${report.renamed.length ? ` (${report.renamed.join(', ')})` : ''}; ${report.oursOnly.length} messages upstream lacks${report.oursOnly.length ? ` (${report.oursOnly.join(', ')})` : ''}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
