// The TypeScript baseline parser must be correct for its comparison with the
// native parser to mean anything: these cases check escapes, quoted strings,
// every value type, ranges, timestamps and error reporting.
//
//   node --import tsx --test bench/ts-parser.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldKind, LpBatch, parseLineProtocolText, unescape } from './ts-parser.js';

function parse(text: string, precision: 'ns' | 'us' | 'ms' | 's' = 'ns'): LpBatch {
  const b = new LpBatch();
  parseLineProtocolText(text, b, precision, 1_700_000_000_000);
  return b;
}

function fieldsOf(b: LpBatch, p: number): Array<[string, number, number | string]> {
  const out: Array<[string, number, number | string]> = [];
  for (let f = b.firstField[p]!; f < b.firstField[p + 1]!; f++) {
    const key = unescape(b.text, b.fieldKey[f * 2]!, b.fieldKey[f * 2 + 1]!);
    const kind = b.fieldKind[f]!;
    const value = kind === FieldKind.String ? unescape(b.text, b.fieldString[f * 2]!, b.fieldString[f * 2 + 1]!) : b.fieldValue[f]!;
    out.push([key, kind, value]);
  }
  return out;
}

function tagsOf(b: LpBatch, p: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let t = b.firstTag[p]!; t < b.firstTag[p + 1]!; t++) {
    const o = t * 4;
    out.push([unescape(b.text, b.tags[o]!, b.tags[o + 1]!), unescape(b.text, b.tags[o + 2]!, b.tags[o + 3]!)]);
  }
  return out;
}

test('a corpus line', () => {
  const b = parse('cpu,host=dev-0042,region=eu-west,rack=r17 usage_user=12.5,usage_system=3.25,temp=41.5,uptime=123456i 1712345678901234567\n');
  assert.equal(b.points, 1);
  assert.equal(b.rejected, 0);
  assert.equal(b.fields, 4);
  assert.equal(unescape(b.text, b.seriesStart[0]!, b.measurementEnd[0]!), 'cpu');
  assert.deepEqual(tagsOf(b, 0), [['host', 'dev-0042'], ['region', 'eu-west'], ['rack', 'r17']]);
  assert.deepEqual(fieldsOf(b, 0), [
    ['usage_user', FieldKind.Float, 12.5],
    ['usage_system', FieldKind.Float, 3.25],
    ['temp', FieldKind.Float, 41.5],
    ['uptime', FieldKind.Int, 123456],
  ]);
  assert.equal(b.timestampMs[0], 1712345678901);
  assert.equal(b.timestampSubMsNs[0], 234567);
});

test('escapes in measurement, tags and field keys; quoted strings', () => {
  const b = parse('my\\ meas\\,ure,t\\ k\\=1=v\\,1\\ x f\\ 1="a \\"b\\", c\\\\",f2=1 10\n');
  assert.equal(b.rejected, 0, JSON.stringify(b.errors));
  assert.equal(unescape(b.text, b.seriesStart[0]!, b.measurementEnd[0]!), 'my meas,ure');
  assert.deepEqual(tagsOf(b, 0), [['t k=1', 'v,1 x']]);
  assert.deepEqual(fieldsOf(b, 0), [['f 1', FieldKind.String, 'a "b", c\\'], ['f2', FieldKind.Float, 1]]);
  assert.equal(b.escaped[0], 1);
});

test('value types and number forms', () => {
  const b = parse('m a=1,b=-1.5e3,c=.5,d=5.,e=1E-2,f=-9223372036854775808i,g=18446744073709551615u,h=t,i=FALSE,j=True,k=0.1,l=123456789012345678 1\n');
  assert.equal(b.rejected, 0, JSON.stringify(b.errors));
  const v = fieldsOf(b, 0).map(([, kind, value]) => [kind, value]);
  assert.deepEqual(v, [
    [FieldKind.Float, 1],
    [FieldKind.Float, -1500],
    [FieldKind.Float, 0.5],
    [FieldKind.Float, 5],
    [FieldKind.Float, 0.01],
    [FieldKind.Int, -9223372036854775808],
    [FieldKind.Uint, 18446744073709551615],
    [FieldKind.Bool, 1],
    [FieldKind.Bool, 0],
    [FieldKind.Bool, 1],
    [FieldKind.Float, 0.1],
    [FieldKind.Float, 123456789012345678],
  ]);
});

test('floats are correctly rounded', () => {
  for (const s of ['0.1', '3.14159', '1.7976931348623157e308', '4.9e-324', '123.456e-7', '9007199254740993', '0.30000000000000004']) {
    const b = parse(`m v=${s}\n`);
    assert.equal(b.fieldValue[0], Number(s), s);
  }
});

test('timestamps: precision, missing, negative', () => {
  const b = parse('m v=1 1700000000123\nm v=2\nm v=3 -5\n', 'ms');
  assert.equal(b.points, 3);
  assert.deepEqual([b.timestampMs[0], b.timestampMs[1], b.timestampMs[2]], [1700000000123, 1_700_000_000_000, -5]);
  const s = parse('m v=1 1700000000\n', 's');
  assert.equal(s.timestampMs[0], 1700000000000);
  const us = parse('m v=1 1700000000123456\n', 'us');
  assert.equal(us.timestampMs[0], 1700000000123);
  assert.equal(us.timestampSubMsNs[0], 456000);
  const ns = parse('m v=1 1234\n');
  assert.equal(ns.timestampMs[0], 0);
  assert.equal(ns.timestampSubMsNs[0], 1234);
});

test('blank lines, comments, CRLF and trailing spaces', () => {
  const b = parse('\n# comment\r\n  \nm v=1 5\r\nm v=2  \n');
  assert.equal(b.points, 2);
  assert.equal(b.rejected, 0, JSON.stringify(b.errors));
});

test('bad lines are reported with their line numbers and the rest kept', () => {
  const bad = [
    'm',
    'm ',
    ',t=1 v=1',
    'm,t v=1',
    'm,t= v=1',
    'm,=1 v=1',
    'm v=',
    'm v',
    'm =1',
    'm v=abc',
    'm v=1x',
    'm v="open',
    'm v=1.2.3',
    'm v=1e',
    'm v=1i2',
    'm v=-1u',
    'm v=9223372036854775808i',
    'm v=18446744073709551616u',
    'm v=tru',
    'm v=1 12a',
    'm v=1 99999999999999999999',
    'm v="x"y',
  ];
  const text = ['ok v=1 1', ...bad, 'ok v=2 2'].join('\n');
  const b = parse(text);
  assert.equal(b.points, 2);
  assert.equal(b.rejected, bad.length);
  assert.deepEqual(b.errors.map((e) => e.line), bad.map((_, i) => i + 2));
  assert.equal(b.fields, 2);
});
