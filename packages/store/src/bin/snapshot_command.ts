// `mkube-store snapshot save|status|restore` (etcdctl's `snapshot save` and etcdutl's
// `snapshot status` / `snapshot restore`, with their flag names). The file format:
// api/snapshot_file_format.ts; `etcdctl snapshot status` reads bbolt files only and
// cannot read these.
import { parseArgs } from 'node:util';
import { saveSnapshot } from '../client/snapshot_save.js';
import { checkRevisionBump, restoreSnapshot, snapshotStatus, type SnapshotStatus } from '../server/snapshot_restore.js';

export const SNAPSHOT_USAGE = `Usage:
  mkube-store snapshot save FILE --endpoints URL [--cacert F --cert F --key F]
      a point-in-time copy of the key space of ONE member (Maintenance.Snapshot), as etcdctl snapshot save
  mkube-store snapshot status FILE [-w simple|table|json]
      checks the file's sha256 and prints its hash (CRC-32 of the data), revision, total keys, size
  mkube-store snapshot restore FILE --data-dir DIR --name NAME --initial-cluster NAME=URL,...
      --initial-cluster-token TOKEN --initial-advertise-peer-urls URL [--bump-revision N --mark-compacted]
      a new member's data dir (must be absent or empty) holding the snapshot's key space, for a NEW
      cluster: restore every member from the same file, then start each with the same flags
      (and --initial-cluster-state new). --bump-revision N: how much to increase the latest revision
      after restore (default 0); --mark-compacted: mark the latest revision after restore as the point of
      scheduled compaction (required if --bump-revision > 0, disallowed otherwise), so that clients
      watching from an older revision are told it was compacted and relist
`;

/** go-humanize's Bytes (SI units), as etcdctl prints sizes. */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${sizes[e]}`;
}

function formatStatus(s: SnapshotStatus, format: string): string {
  const hash = s.crc32.toString(16);
  const totalKey = s.records + s.leases;
  if (format === 'json') {
    return `${JSON.stringify({ hash: s.crc32, revision: s.revision, totalKey, totalSize: s.size, sha256: s.sha256, compactRevision: s.compactRevision, records: s.records, leases: s.leases })}\n`;
  }
  if (format === 'table') {
    const rows = [['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'], [hash, String(s.revision), String(totalKey), humanizeBytes(s.size)]];
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = `+${w.map((x) => '-'.repeat(x + 2)).join('+')}+\n`;
    const row = (r: string[]) => `|${r.map((c, i) => ` ${c.padStart(w[i]!)} `).join('|')}|\n`;
    return line + row(rows[0]!) + line + row(rows[1]!) + line;
  }
  return `${hash}, ${s.revision}, ${totalKey}, ${humanizeBytes(s.size)}\n`;
}

export async function runSnapshotCommand(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(SNAPSHOT_USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const [sub, ...rest] = argv;
  const out = (s: string) => process.stdout.write(s);
  const fail = (msg: string, code = 1): number => {
    process.stderr.write(`Error: ${msg}\n`);
    return code;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        endpoints: { type: 'string' }, cacert: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
        'write-out': { type: 'string', short: 'w', default: 'simple' },
        'data-dir': { type: 'string' }, name: { type: 'string' }, 'initial-cluster': { type: 'string' },
        'initial-cluster-token': { type: 'string' }, 'initial-advertise-peer-urls': { type: 'string' },
        'bump-revision': { type: 'string', default: '0' }, 'mark-compacted': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${SNAPSHOT_USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help || !sub) {
    out(SNAPSHOT_USAGE);
    return sub ? 0 : 2;
  }
  if (positionals.length !== 1) return fail(`snapshot ${sub} expects exactly one FILE argument\n\n${SNAPSHOT_USAGE}`, 2);
  const file = positionals[0]!;
  try {
    if (sub === 'save') {
      const endpoints = (values.endpoints ?? '').split(',').filter(Boolean);
      if (endpoints.length !== 1) return fail('snapshot must be requested to one selected node, not multiple [--endpoints]', 2);
      const tls = values.cacert || values.cert ? { ca: values.cacert, cert: values.cert, key: values.key } : undefined;
      const saved = await saveSnapshot(endpoints[0]!, file, { tls });
      out(`Snapshot saved at ${saved.path} (${humanizeBytes(saved.size)}, sha256 ${saved.sha256})\n`);
      return 0;
    }
    if (sub === 'status') {
      const format = values['write-out']!;
      if (!['simple', 'table', 'json'].includes(format)) return fail(`unsupported output format ${JSON.stringify(format)} (simple, table, json)`, 2);
      out(formatStatus(await snapshotStatus(file), format));
      return 0;
    }
    if (sub === 'restore') {
      const bumpText = values['bump-revision']!;
      const bumpRevision = /^\d+$/.test(bumpText) ? Number(bumpText) : Number.NaN;
      if (!Number.isSafeInteger(bumpRevision)) return fail(`invalid argument "${bumpText}" for "--bump-revision" flag: a whole number >= 0`, 2);
      const markCompacted = values['mark-compacted']!;
      const bad = checkRevisionBump(bumpRevision, markCompacted);
      if (bad) return fail(bad, 2);
      const r = await restoreSnapshot({
        bumpRevision, markCompacted,
        snapshotPath: file,
        dataDir: values['data-dir'],
        name: values.name,
        initialCluster: values['initial-cluster'],
        initialClusterToken: values['initial-cluster-token'],
        initialAdvertisePeerURLs: values['initial-advertise-peer-urls'],
      });
      const bumped = bumpRevision > 0 ? `; latest revision bumped to ${r.restoredRevision}, compacted at ${r.restoredCompactRevision}` : '';
      out(`restored snapshot ${file} (revision ${r.revision}, ${r.records} revisions, ${r.leases} leases) into ${r.dataDir}: member ${r.name} ${r.memberId.toString(16)} of cluster ${r.clusterId.toString(16)}${bumped}\n`);
      return 0;
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    return fail(`${e.message}${e.code ? ` [${e.code}]` : ''}`);
  }
  return fail(`unknown snapshot command ${JSON.stringify(sub)}\n\n${SNAPSHOT_USAGE}`, 2);
}
