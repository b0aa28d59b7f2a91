// Share of a process's busy CPU time by component, from a V8 .cpuprofile (node --cpu-prof):
// each sample is charged to the innermost JavaScript frame outside Node's internals
// (node:internal/http2 and node:internal/streams are kept apart: the HTTP/2 and stream
// machinery), by the package or store module it belongs to. Idle time is left out; the
// last BENCH_WINDOW_S seconds of the profile only (default: all). Not a test: it measures.
//
//   npx tsx bench/store/profile_share.ts /tmp/prof/CPU.*.cpuprofile
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES: Array<[RegExp, string]> = [
  [/@grpc\/grpc-js/, 'grpc-js'],
  [/@grpc\/proto-loader|protobufjs/, 'protobufjs codecs'],
  [/classic-level|abstract-level|level-transcoder|module-error/, 'LevelDB (classic-level)'],
  [/prom-client/, 'prom-client'],
  [/pino|sonic-boom/, 'pino'],
  [/store\/(dist\/)?src\/server\/grpc\//, 'store server/grpc (own gRPC)'],
  [/store\/(dist\/)?src\/wal\//, 'store WAL'],
  [/store\/(dist\/)?src\/mvcc\//, 'store mvcc'],
  [/store\/(dist\/)?src\/raft\//, 'store raft'],
  [/store\/(dist\/)?src\/server\/(services|peer)\//, 'store services + peer wire'],
  [/store\/(dist\/)?src\//, 'store server (member, Ready loop, other)'],
];

function categoryOf(url: string): string | undefined {
  if (url === '' || url.startsWith('node:internal/') || url.startsWith('node:')) return undefined;
  for (const [re, name] of CATEGORIES) if (re.test(url)) return name;
  return `other: ${url.replace(/.*node_modules\//, '').split('/')[0]}`;
}

for (const file of process.argv.slice(2)) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const parent = new Map<number, Node>();
  const byId = new Map<number, Node>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const totalUs = p.timeDeltas.reduce((a, b) => a + b, 0);
  const windowUs = Number(process.env.BENCH_WINDOW_S ?? 0) * 1e6;
  const share = new Map<string, number>();
  let busy = 0;
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (windowUs > 0 && t < totalUs - windowUs) continue;
    const leaf = byId.get(p.samples[i]!)!;
    const name = leaf.callFrame.functionName;
    if (name === '(idle)') continue;
    busy += dt;
    let cat: string;
    if (name === '(program)') cat = '(program): native, outside JS';
    else if (name === '(garbage collector)') cat = 'GC';
    else {
      let n: Node | undefined = leaf;
      let found: string | undefined;
      let internal: string | undefined;
      while (n && !found) {
        found = categoryOf(n.callFrame.url);
        if (!found && !internal) {
          if (n.callFrame.url.startsWith('node:internal/http2')) internal = 'node:http2 (JS)';
          else if (n.callFrame.url.startsWith('node:internal/streams')) internal = 'Node streams';
        }
        n = parent.get(n.id);
      }
      cat = internal && (found === 'store server/grpc (own gRPC)' || found === 'grpc-js' || !found) ? internal : found ?? 'Node internals without a JS caller';
      if (!found && !internal) cat = 'Node internals without a JS caller';
    }
    share.set(cat, (share.get(cat) ?? 0) + dt);
  }
  console.log(`${file}: busy ${(busy / 1e6).toFixed(2)} s`);
  for (const [k, v] of [...share].sort((a, b) => b[1] - a[1])) console.log(`  ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`);
}
