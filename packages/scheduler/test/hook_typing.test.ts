// Every plugin hook is typed: a plugin that declares an extension point with
// `implements` and misspells a hook (or returns an extensions object with a
// misspelled method) does not compile. Checked by compiling small plugins
// against the real framework interfaces with the TypeScript compiler API.
import test from 'ava';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const probePath = join(here, '__hook_probe.ts');

let previous: ts.Program | undefined;

/** Type-checks `source` as a file next to the tests; returns the error messages. */
function typeErrors(source: string): string[] {
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError, create) =>
    name === probePath ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, onError, create);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === probePath || fileExists(name);
  // Reusing the previous program keeps the framework's and lib's checked files.
  const program = ts.createProgram([probePath], options, host, previous);
  previous = program;
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(probePath))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

const PRELUDE = `
import { Status, type CycleState, type NodeScore, type ScoreExtensions, type ScorePlugin, type PreFilterPlugin,
  type PreFilterExtensions, type FilterPlugin, type EnqueueExtensions, type ReservePlugin, type PermitPlugin } from '../src/framework/interface.js';
import type { NodeInfo, PodInfo } from '../src/node_info.js';
`;

test('a correct plugin compiles', (t) => {
  const errs = typeErrors(`${PRELUDE}
export class Good implements ScorePlugin, ScoreExtensions, FilterPlugin, EnqueueExtensions {
  readonly name = 'Good';
  eventsToRegister() { return ['NodeAdd'] as const; }
  filter(_s: CycleState, _p: PodInfo, _n: NodeInfo): Status | null { return null; }
  score(_s: CycleState, _p: PodInfo, _n: NodeInfo): number { return 1; }
  scoreExtensions(): ScoreExtensions { return this; }
  normalizeScore(_s: CycleState, _p: PodInfo, _scores: NodeScore[]): void {}
}`);
  t.deepEqual(errs, []);
});

test('misspelled hooks are compile errors', (t) => {
  const cases: [string, RegExp][] = [
    // Score without scoreExtensions (e.g. "scoreExtension").
    [`export class A implements ScorePlugin { readonly name = 'A'; score() { return 0; } scoreExtension() { return null; } }`, /scoreExtensions/],
    // normalizeScore misspelled on the object scoreExtensions returns.
    [`export class B implements ScorePlugin { readonly name = 'B'; score() { return 0; } scoreExtensions(): ScoreExtensions { return this; } normaliseScore(_s: CycleState, _p: PodInfo, _x: NodeScore[]) {} }`, /normalizeScore/],
    // PreFilter's addPod/removePod live on PreFilterExtensions.
    [`export class C implements PreFilterPlugin, PreFilterExtensions { readonly name = 'C'; preFilter() { return null; } preFilterExtensions() { return this; } addPod() {} removePods() {} }`, /removePod/],
    // A filter plugin whose hook is "filters".
    [`export class D implements FilterPlugin { readonly name = 'D'; filters() { return null; } }`, /filter/],
    // Reserve needs unreserve.
    [`export class E implements ReservePlugin { readonly name = 'E'; reserve() { return null; } unReserve() {} }`, /unreserve/],
    // EnqueueExtensions' method name.
    [`export class F implements FilterPlugin, EnqueueExtensions { readonly name = 'F'; filter() { return null; } events() { return []; } }`, /eventsToRegister/],
    // A hook with the wrong signature (Permit returns a PermitResult).
    [`export class G implements PermitPlugin { readonly name = 'G'; permit() { return Status.unschedulable('no'); } }`, /PermitResult|status/],
  ];
  for (const [src, want] of cases) {
    const errs = typeErrors(PRELUDE + src);
    t.true(errs.some((e) => want.test(e)), `${src}\n→ ${errs.join('\n') || 'compiled'}`);
  }
});
