/**
 * Label selectors against upstream's documented examples (the labels
 * concept page and apimachinery's labels/selector_test.go cases).
 */
import test from 'ava';
import {
  EVERYTHING,
  formatLabelSelector,
  labelSelectorAsSelector,
  labelSelectorMatches,
  LabelSelectorError,
  parseSelector,
  selectorFromSet,
  selectorMatches,
  selectorString,
  setMatches,
} from '../src/index.js';

const matches = (sel: string, labels: Record<string, string>): boolean => selectorMatches(parseSelector(sel), labels);

test('equality-based requirements (docs: environment = production, tier != frontend)', (t) => {
  t.true(matches('environment = production', { environment: 'production' }));
  t.true(matches('environment==production', { environment: 'production' }));
  t.false(matches('environment=production', { environment: 'qa' }));
  t.true(matches('tier != frontend', { tier: 'backend' }));
  t.true(matches('tier != frontend', {}), '!= also selects objects without the key');
  t.true(matches('environment=production,tier!=frontend', { environment: 'production', tier: 'db' }));
  t.false(matches('environment=production,tier!=frontend', { environment: 'production', tier: 'frontend' }));
});

test('set-based requirements (docs: environment in (production, qa), tier notin (frontend, backend), partition, !partition)', (t) => {
  t.true(matches('environment in (production, qa)', { environment: 'qa' }));
  t.false(matches('environment in (production, qa)', { environment: 'dev' }));
  t.false(matches('environment in (production, qa)', {}));
  t.true(matches('tier notin (frontend, backend)', { tier: 'db' }));
  t.true(matches('tier notin (frontend, backend)', {}));
  t.false(matches('tier notin (frontend, backend)', { tier: 'backend' }));
  t.true(matches('partition', { partition: 'a' }));
  t.false(matches('partition', {}));
  t.true(matches('!partition', {}));
  t.false(matches('!partition', { partition: '' }));
  t.true(matches('partition,environment notin (qa)', { partition: 'x', environment: 'production' }));
});

test('the grammar example "x in (foo,,baz),y,z notin ()" parses with the empty value', (t) => {
  const sel = parseSelector('x in (foo,,baz),y,z notin ()');
  t.deepEqual(
    sel.requirements.map((r) => [r.key, r.operator, [...r.values]]),
    [
      ['x', 'in', ['', 'baz', 'foo']],
      ['y', 'exists', []],
      ['z', 'notin', ['']],
    ],
  );
  t.is(selectorString(sel), 'x in (,baz,foo),y,z notin ()');
  t.true(selectorMatches(sel, { x: '', y: '1' }));
});

test('gt and lt compare integers', (t) => {
  t.true(matches('replicas>3', { replicas: '4' }));
  t.false(matches('replicas>3', { replicas: '3' }));
  t.true(matches('replicas<3', { replicas: '-1' }));
  t.false(matches('replicas<3', { replicas: 'x' }));
});

test('bad selectors fail with upstream messages', (t) => {
  const msg = (s: string): string => t.throws(() => parseSelector(s), { instanceOf: LabelSelectorError })!.message;
  t.is(msg('!x=a'), "unable to parse requirement: found '=', expected: ',' or 'end of string'");
  t.is(msg('x=a,'), "found '', expected: identifier after ','");
  t.is(msg(',x'), "found ',', expected: !, identifier, or 'end of string'");
  t.is(msg('x in a'), "unable to parse requirement: found 'a' expected: '('");
  t.is(msg('x=a b'), "found 'b', expected: ',' or 'end of string'");
  t.regex(msg('x==a==b'), /^found '==', expected: ',' or 'end of string'$/);
  t.regex(msg('x>a'), /for 'Gt', 'Lt' operators, the value must be an integer/);
  t.regex(msg('-x'), /^unable to parse requirement: <nil>: Invalid value: "-x": name part must consist of alphanumeric characters/);
  t.regex(msg('x=a_'), /Invalid value: "a_": a valid label must be an empty string or consist of alphanumeric characters/);
});

test('an empty string selects everything', (t) => {
  t.deepEqual(parseSelector(''), EVERYTHING);
  t.true(matches('', {}));
});

test('metav1.LabelSelector: a nil selector selects nothing, an empty one everything', (t) => {
  t.false(labelSelectorMatches(undefined, { a: 'b' }));
  t.false(labelSelectorMatches(null, {}));
  t.true(labelSelectorMatches({}, { a: 'b' }));
  t.true(labelSelectorMatches({ matchLabels: {}, matchExpressions: [] }, {}));
});

test('metav1.LabelSelector: matchLabels and matchExpressions are ANDed (docs example)', (t) => {
  const sel = {
    matchLabels: { component: 'redis' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['cache'] },
      { key: 'environment', operator: 'NotIn', values: ['dev'] },
    ],
  };
  t.true(labelSelectorMatches(sel, { component: 'redis', tier: 'cache', environment: 'prod' }));
  t.true(labelSelectorMatches(sel, { component: 'redis', tier: 'cache' }));
  t.false(labelSelectorMatches(sel, { component: 'redis', tier: 'cache', environment: 'dev' }));
  t.false(labelSelectorMatches(sel, { component: 'redis', tier: 'db' }));
  t.true(labelSelectorMatches({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }));
  t.true(labelSelectorMatches({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { b: '' }));
  t.is(formatLabelSelector(sel), 'component=redis,environment notin (dev),tier in (cache)');
});

test('metav1.LabelSelector: an unknown operator or an empty In is an error (and selects nothing)', (t) => {
  t.throws(() => labelSelectorAsSelector({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] }), {
    message: '"Equals" is not a valid label selector operator',
  });
  t.throws(() => labelSelectorAsSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), {
    message: /values set can't be empty/,
  });
  t.false(labelSelectorMatches({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] }, { a: 'b' }));
});

test('a map selector (Service.spec.selector): every key equal; empty selects everything', (t) => {
  t.true(setMatches({ app: 'web' }, { app: 'web', tier: 'x' }));
  t.false(setMatches({ app: 'web' }, { app: 'db' }));
  t.true(setMatches({}, {}));
  t.is(selectorString(selectorFromSet({ b: '2', a: '1' })), 'a=1,b=2');
});
