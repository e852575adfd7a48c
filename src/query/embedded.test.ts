import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SentioError } from '../errors.js';
import { buildBatch, recordingMetrics, type FixtureSeries } from '../embedded/fixture.js';
import { EmbeddedStore } from '../embedded/index.js';
import { alignStartEnd, EmbeddedQueryEngine, planQuery } from './embedded.js';
import { formatValue } from './format.js';

// Two hosts in two dcs, one sample every 10 s from T0 for 10 minutes:
// gauge = host index * 10 + minute, counter grows by 10 * (host index + 1) per 10 s.
const T0 = 1_700_000_000_000;
const HOSTS = [
  { host: 'a1', dc: 'x' },
  { host: 'a2', dc: 'y' },
  { host: 'b1', dc: 'x' },
];
const fixture: FixtureSeries[] = HOSTS.flatMap((h, i) => {
  const gauge: FixtureSeries = { labels: { __name__: 'temp', ...h }, samples: [] };
  const counter: FixtureSeries = { labels: { __name__: 'bytes_total', ...h }, samples: [] };
  for (let k = 0; k <= 60; k++) {
    gauge.samples.push({ timestamp: T0 + k * 10_000, value: i * 10 + Math.floor(k / 6) });
    counter.samples.push({ timestamp: T0 + k * 10_000, value: k * 10 * (i + 1) });
  }
  return [gauge, counter];
});

let dir: string;
let sink: EmbeddedStore;
let engine: EmbeddedQueryEngine;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sentio-query-'));
  sink = await EmbeddedStore.open({ dataDir: dir, metrics: recordingMetrics() });
  await sink.append(buildBatch(fixture, true));
  // A later duplicate of one sample: the last written wins.
  await sink.append(buildBatch([{ labels: { __name__: 'temp', host: 'a1', dc: 'x' }, samples: [{ timestamp: T0 + 300_000, value: 99 }] }]));
  engine = new EmbeddedQueryEngine(sink);
});
after(async () => {
  await sink.close();
  await rm(dir, { recursive: true, force: true });
});

const range = (query: string, startMs = T0 + 60_000, endMs = T0 + 120_000, stepMs = 30_000) => engine.range({ query, startMs, endMs, stepMs });

async function rejects(query: string, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(range(query), (err: unknown) => {
    assert.ok(err instanceof SentioError, String(err));
    assert.equal(err.code, code, `${query}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('EmbeddedQueryEngine', () => {
  it('selector: the last sample in the window, series sorted, __name__ kept', async () => {
    const r = await range('temp{dc="x"}');
    assert.equal(r.resultType, 'matrix');
    assert.deepEqual(r.result, [
      { metric: { __name__: 'temp', dc: 'x', host: 'a1' }, values: [[1_700_000_060, '1'], [1_700_000_090, '1'], [1_700_000_120, '2']] },
      { metric: { __name__: 'temp', dc: 'x', host: 'b1' }, values: [[1_700_000_060, '21'], [1_700_000_090, '21'], [1_700_000_120, '22']] },
    ]);
  });

  it('each matcher op, regexes anchored', async () => {
    const hosts = async (q: string) => (await range(q)).result.map((s) => s.metric['host']);
    assert.deepEqual(await hosts('temp{host="a2"}'), ['a2']);
    assert.deepEqual(await hosts('temp{host!="a2"}'), ['a1', 'b1']);
    // Sorted by label pairs in name order: dc before host.
    assert.deepEqual(await hosts('temp{host=~"a.*"}'), ['a1', 'a2']);
    assert.deepEqual(await hosts('temp{host=~"a"}'), []);
    assert.deepEqual(await hosts('temp{host!~"a.*"}'), ['b1']);
    assert.deepEqual(await hosts('temp{rack=""}'), ['a1', 'b1', 'a2']);
    assert.deepEqual(await hosts('{__name__=~"te.p", dc="y"}'), ['a2']);
    assert.deepEqual(await hosts('nothing_here'), []);
  });

  it('duplicate timestamps: the last written sample wins', async () => {
    const r = await range('temp{host="a1"}', T0 + 300_000, T0 + 300_000, 10_000);
    assert.deepEqual(r.result[0]?.values, [[1_700_000_300, '99']]);
  });

  it('no points after the data ends: the window is empty', async () => {
    const r = await range('temp{host="a1"}', T0 + 590_000, T0 + 640_000, 10_000);
    // Samples every 10 s give a window of 15 s: 600 s is the last sample, 610 still sees it.
    assert.deepEqual(r.result[0]?.values.map((p) => p[0]), [1_700_000_590, 1_700_000_600, 1_700_000_610]);
  });

  it('rate: per-second increase, __name__ dropped', async () => {
    const r = await range('rate(bytes_total{host=~"a.*"}[1m])');
    assert.deepEqual(r.result, [
      { metric: { dc: 'x', host: 'a1' }, values: [[1_700_000_060, '1'], [1_700_000_090, '1'], [1_700_000_120, '1']] },
      { metric: { dc: 'y', host: 'a2' }, values: [[1_700_000_060, '2'], [1_700_000_090, '2'], [1_700_000_120, '2']] },
    ]);
  });

  it('sum/avg/min/max, by and without', async () => {
    assert.deepEqual((await range('sum(rate(bytes_total[1m]))')).result, [{ metric: {}, values: [[1_700_000_060, '6'], [1_700_000_090, '6'], [1_700_000_120, '6']] }]);
    assert.deepEqual((await range('sum by (dc) (rate(bytes_total[1m]))')).result, [
      { metric: { dc: 'x' }, values: [[1_700_000_060, '4'], [1_700_000_090, '4'], [1_700_000_120, '4']] },
      { metric: { dc: 'y' }, values: [[1_700_000_060, '2'], [1_700_000_090, '2'], [1_700_000_120, '2']] },
    ]);
    assert.deepEqual((await range('avg(temp) by (dc)', T0 + 60_000, T0 + 60_000)).result, [
      { metric: { dc: 'x' }, values: [[1_700_000_060, '11']] },
      { metric: { dc: 'y' }, values: [[1_700_000_060, '11']] },
    ]);
    assert.deepEqual((await range('min(temp)', T0 + 60_000, T0 + 60_000)).result, [{ metric: {}, values: [[1_700_000_060, '1']] }]);
    assert.deepEqual((await range('max by (rack) (temp)', T0 + 60_000, T0 + 60_000)).result, [{ metric: {}, values: [[1_700_000_060, '21']] }]);
    assert.deepEqual((await range('max without (host) (temp)', T0 + 60_000, T0 + 60_000)).result, [
      { metric: { dc: 'x' }, values: [[1_700_000_060, '21']] },
      { metric: { dc: 'y' }, values: [[1_700_000_060, '11']] },
    ]);
    assert.deepEqual((await range('(sum((temp{host="a1"})))', T0 + 60_000, T0 + 60_000)).result, [{ metric: {}, values: [[1_700_000_060, '1']] }]);
  });

  it('instant: one point at the time, lookback of 5 minutes', async () => {
    const v = await engine.instant({ query: 'temp{host="a2"}', timeMs: T0 + 890_000 });
    assert.deepEqual(v, { resultType: 'vector', result: [{ metric: { __name__: 'temp', dc: 'y', host: 'a2' }, value: [1_700_000_890, '20'] }] });
    assert.deepEqual((await engine.instant({ query: 'temp', timeMs: T0 + 1_000_000 })).result, []);
  });

  it('names what it does not support', async () => {
    const cases: Array<[string, RegExp]> = [
      ['histogram_quantile(0.9, temp)', /^function "histogram_quantile" is not supported by the embedded store$/],
      ['irate(bytes_total[1m])', /function "irate"/],
      ['topk(3, temp)', /aggregation "topk"/],
      ['count(temp)', /aggregation "count"/],
      ['temp offset 5m', /offset modifier/],
      ['temp @ 1700000000', /@ modifier/],
      ['temp + 1', /binary operator "\+"/],
      ['temp > bool 1', /binary operator ">"/],
      ['-temp', /unary operator "-"/],
      ['rate(bytes_total[5m:1m])', /subquery/],
      ['temp[5m]', /range selector/],
      ['rate(bytes_total)', /rate\(\) without a range/],
      ['sum(sum(temp))', /aggregation "sum" inside an aggregation/],
      ['sum(rate(bytes_total[1m] offset 1m))', /offset modifier/],
      ['42', /number literal/],
    ];
    for (const [q, re] of cases) await rejects(q, 'SENTIO_ERR_UNSUPPORTED_QUERY', re);
  });

  it('bad syntax and bad arguments are SENTIO_ERR_BAD_QUERY', async () => {
    for (const q of ['temp{', 'sum(', 'rate(x[1m]', '{}', 'temp{host=~"("}', 'no_such_function(temp)', '']) {
      await rejects(q, 'SENTIO_ERR_BAD_QUERY');
    }
    await assert.rejects(engine.range({ query: 'temp', startMs: T0, endMs: T0 - 1, stepMs: 1000 }), /before start/);
    await assert.rejects(engine.range({ query: 'temp', startMs: T0, endMs: T0 + 1000, stepMs: 0 }), /step/);
    await assert.rejects(engine.range({ query: 'temp', startMs: 0, endMs: T0, stepMs: 1000 }), /exceed the limit/);
  });

  it('series, label names and values within a time range', async () => {
    const all = { startMs: T0, endMs: T0 + 600_000 };
    assert.deepEqual(await engine.series({ match: ['temp{dc="y"}', 'bytes_total{host="b1"}'], ...all }), [
      { __name__: 'bytes_total', dc: 'x', host: 'b1' },
      { __name__: 'temp', dc: 'y', host: 'a2' },
    ]);
    assert.deepEqual(await engine.series({ match: ['temp'], startMs: T0 + 700_000, endMs: T0 + 800_000 }), []);
    assert.deepEqual(await engine.labelNames(all), ['__name__', 'dc', 'host']);
    assert.deepEqual(await engine.labelValues('__name__', all), ['bytes_total', 'temp']);
    assert.deepEqual(await engine.labelValues('host', { ...all, match: ['temp{dc="x"}'] }), ['a1', 'b1']);
    assert.deepEqual(await engine.labelValues('rack', all), []);
    assert.deepEqual(await engine.labelNames({ startMs: 0, endMs: T0 - 1 }), []);
  });

  it('planQuery', () => {
    assert.deepEqual(planQuery('sum without (host) (rate(x{a="b"}[90s]))'), {
      selector: { matchers: [{ name: '__name__', op: '=', value: 'x' }, { name: 'a', op: '=', value: 'b' }] },
      fn: 'rate',
      windowMs: 90_000,
      aggregate: { op: 'sum', without: ['host'] },
    });
  });
});

it('alignStartEnd: start down, end up to the step, same number of points', () => {
  assert.deepEqual(alignStartEnd(1_005, 500_005, 10_000, 50), [0, 500_000]);
  assert.deepEqual(alignStartEnd(10_000, 500_000, 10_000, 50), [10_000, 500_000]);
});

it('formatValue writes what VictoriaMetrics writes', () => {
  const cases: Array<[number, string]> = [
    [0.1, '0.1'], [1e-7, '0.0000001'], [1.5e-5, '0.000015'], [1e21, '1000000000000000000000'],
    [123456789012345680000, '123456789012345680000'], [-2.5e-3, '-0.0025'], [1e16, '10000000000000000'],
    [12345.678, '12345.678'], [-0, '0'], [NaN, 'NaN'], [Infinity, '+Inf'], [-Infinity, '-Inf'],
  ];
  for (const [v, s] of cases) assert.equal(formatValue(v), s, String(v));
});
