import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SentioError } from '../errors.js';
import { formatSelector, matchesLabels, parseSelector } from './selector.js';

function badQuery(text: string): void {
  assert.throws(() => parseSelector(text), (err: unknown) => {
    assert.ok(err instanceof SentioError, `${text}: ${String(err)}`);
    assert.equal(err.code, 'SENTIO_ERR_BAD_QUERY');
    return true;
  }, text);
}

test('parses a metric name and each matcher op', () => {
  assert.deepEqual(parseSelector('cpu_usage{host=~"a.*",dc!="x", rack="r1", zone!~`eu-.*`}'), {
    matchers: [
      { name: '__name__', op: '=', value: 'cpu_usage' },
      { name: 'host', op: '=~', value: 'a.*' },
      { name: 'dc', op: '!=', value: 'x' },
      { name: 'rack', op: '=', value: 'r1' },
      { name: 'zone', op: '!~', value: 'eu-.*' },
    ],
  });
  assert.deepEqual(parseSelector('{__name__="x"}'), { matchers: [{ name: '__name__', op: '=', value: 'x' }] });
  assert.deepEqual(parseSelector('up'), { matchers: [{ name: '__name__', op: '=', value: 'up' }] });
  assert.deepEqual(parseSelector('x{a="b",}'), {
    matchers: [{ name: '__name__', op: '=', value: 'x' }, { name: 'a', op: '=', value: 'b' }],
  });
});

test('string escapes and quoted label names', () => {
  const sel = parseSelector(String.raw`x{a="q\"\n\u00e9\x41\101", b='it\'s', c=` + '`\\d+`' + String.raw`, "we.ird"="1"}`);
  assert.deepEqual(sel.matchers.slice(1), [
    { name: 'a', op: '=', value: 'q"\néAA' },
    { name: 'b', op: '=', value: "it's" },
    { name: 'c', op: '=', value: '\\d+' },
    { name: 'we.ird', op: '=', value: '1' },
  ]);
  assert.deepEqual(parseSelector('{"my.metric"}').matchers, [{ name: '__name__', op: '=', value: 'my.metric' }]);
});

test('bad selectors are SENTIO_ERR_BAD_QUERY', () => {
  for (const text of ['', 'x{', 'x{a=b}', 'x{a~="b"}', '{}', '{a=~".*"}', '{a=""}', 'x{__name__="y"}', 'x{a=~"("}', 'x{a=~"a)|(b"}', 'rate(x[5m])', 'x + 1', '"x"', 'x{a="\\q"}']) {
    badQuery(text);
  }
});

test('matchesLabels: missing labels are "", regexes fully anchored', () => {
  const labels = { __name__: 'cpu', host: 'abc', dc: 'x' };
  const cases: Array<[string, boolean]> = [
    ['cpu', true],
    ['mem', false],
    ['{__name__=~"c.u"}', true],
    ['cpu{host="abc"}', true],
    ['cpu{host="ab"}', false],
    ['cpu{host=~"ab"}', false], // anchored: not a substring match
    ['cpu{host=~"a.*"}', true],
    ['cpu{host=~"b.*"}', false],
    ['cpu{host=~"abc|zzz"}', true], // alternation inside the anchors
    ['cpu{host!~"a.*"}', false],
    ['cpu{host!~"b.*"}', true],
    ['cpu{dc!="x"}', false],
    ['cpu{dc!="y"}', true],
    ['cpu{rack=""}', true], // missing label
    ['cpu{rack!=""}', false],
    ['cpu{rack!="r1"}', true],
    ['cpu{rack=~"r.*"}', false],
    ['cpu{rack=~"r.*|"}', true],
    ['cpu{host=~"ABC"}', false],
    ['cpu{host=~"(?i)ABC"}', true], // RE2's leading case-folding flag
  ];
  for (const [text, want] of cases) assert.equal(matchesLabels(parseSelector(text), labels), want, text);
  assert.equal(matchesLabels(parseSelector('x{a=~"a.b"}'), { __name__: 'x', a: 'a\nb' }), true, '. matches a newline');
});

test('formatSelector is canonical and parses back', () => {
  const a = parseSelector('cpu{host=~"a.*",dc!="x"}');
  const b = parseSelector('{dc!="x", __name__="cpu", host=~"a.*"}');
  assert.equal(formatSelector(a), 'cpu{dc!="x",host=~"a.*"}');
  assert.equal(formatSelector(a), formatSelector(b));
  assert.equal(formatSelector(parseSelector('up')), 'up');
  assert.equal(formatSelector(parseSelector('{__name__=~"a|b"}')), '{__name__=~"a|b"}');
  assert.equal(formatSelector(parseSelector('{"my.metric", "we.ird"="q\\""}')), '{__name__="my.metric","we.ird"="q\\""}');
  for (const text of ['cpu{host=~"a.*",dc!="x"}', 'x{a="\\n\\t\\u00e9"}', '{"my.metric", "we.ird"="1"}']) {
    const sel = parseSelector(text);
    const again = parseSelector(formatSelector(sel));
    assert.equal(formatSelector(again), formatSelector(sel));
    assert.deepEqual(new Set(again.matchers.map((m) => JSON.stringify(m))), new Set(sel.matchers.map((m) => JSON.stringify(m))));
  }
});
