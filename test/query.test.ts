// Acceptance test of the query engines: the same line protocol goes into a
// real VictoriaMetrics 1.79.5 and into an embedded gateway (DuckDB); every
// query of the embedded subset must give the same series, timestamps and
// values (within 1e-9 relative) through VictoriaMetricsQueryEngine and
// EmbeddedQueryEngine. Then sharding: two VictoriaMetrics nodes holding
// parts of the data (some series on both, as replicas) must answer through
// the merging engine what one node holding everything answers.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SentioError } from '../src/errors.js';
import { EmbeddedQueryEngine } from '../src/query/embedded.js';
import { createQueryEngine } from '../src/query/index.js';
import type { MatrixResult, QueryEngine } from '../src/query/types.js';
import { baseUrlOf, VictoriaMetricsQueryEngine } from '../src/query/victoriametrics.js';
import { EmbeddedStore } from '../src/embedded/index.js';
import { startTestGateway, type TestGateway } from './helpers.js';
import { startVictoriaMetrics, type VictoriaMetrics } from './services/index.js';

const STEP = 10_000;
const NOW = Math.floor(Date.now() / 60_000) * 60_000;
const END = NOW - 60_000;
const BEGIN = END - 30 * 60_000;

/** Deterministic pseudo-random numbers. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/**
 * Line protocol (ms precision), 30 minutes: per host and dc a gauge every
 * 10 s (cpu_usage), a counter every 10 s with one reset (net_bytes), and a
 * gauge with ±2 s jitter (env_temp); a 1 s gauge for one host (fast_load).
 */
function corpus(): string[] {
  const rnd = random(7);
  const lines: string[] = [];
  const hosts = [
    ['a1', 'x'], ['a2', 'x'], ['a3', 'y'], ['b1', 'y'], ['b2', 'z'],
  ] as const;
  const counters = new Map<string, number>(hosts.map(([h]) => [h, 1000]));
  for (let t = BEGIN; t <= END; t += STEP) {
    for (const [host, dc] of hosts) {
      const tags = `host=${host},dc=${dc}`;
      lines.push(`cpu,${tags} usage=${Math.round(rnd() * 10_000) / 100} ${t}`);
      let c = counters.get(host)! + Math.round(rnd() * 5000);
      if (host === 'b1' && t === BEGIN + 12 * 60_000) c = 17; // a counter reset
      counters.set(host, c);
      lines.push(`net,${tags} bytes=${c} ${t}`);
      lines.push(`env,${tags},room=r${host.length} temp=${Math.round(rnd() * 400) / 10} ${t + Math.floor(rnd() * 4000) - 2000}`);
    }
  }
  for (let t = END - 10 * 60_000; t <= END; t += 1000) lines.push(`fast,host=a1,dc=x load=${Math.round(rnd() * 1000) / 1000} ${t}`);
  return lines;
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(url, { method: 'POST', body, headers });
  assert.equal(res.status, 204, `${url}: ${res.status} ${await res.text()}`);
}

/** Same series in the same order, same timestamps, values within 1e-9 relative. */
function assertSameMatrix(actual: MatrixResult, expected: MatrixResult, what: string): void {
  assert.equal(actual.resultType, 'matrix');
  assert.deepEqual(actual.result.map((s) => s.metric), expected.result.map((s) => s.metric), `${what}: series`);
  expected.result.forEach((want, i) => {
    const got = actual.result[i]!;
    const where = `${what} ${JSON.stringify(want.metric)}`;
    assert.deepEqual(got.values.map((p) => p[0]), want.values.map((p) => p[0]), `${where}: timestamps`);
    want.values.forEach(([t, v], j) => {
      const a = Number(got.values[j]![1]);
      const b = Number(v);
      const ok = a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
      assert.ok(ok, `${where} at ${t}: embedded ${got.values[j]![1]}, VictoriaMetrics ${v}`);
    });
  });
}

const QUERIES = [
  'cpu_usage',
  'cpu_usage{host="a1"}',
  'cpu_usage{host!="a1"}',
  'cpu_usage{host=~"a.*"}',
  'cpu_usage{host!~"a.*",dc!="z"}',
  '{__name__=~"env_.*"}',
  'env_temp{room=~"r2|r9"}',
  'fast_load',
  'rate(net_bytes[1m])',
  'rate(net_bytes{dc="y"}[5m])',
  'rate(net_bytes[20s])',
  'rate(env_temp[1m])',
  'sum(cpu_usage)',
  'sum by (dc) (rate(net_bytes[2m]))',
  'avg(env_temp)',
  'avg by (dc, room) (env_temp)',
  'min by (dc) (cpu_usage)',
  'max(rate(net_bytes[1m]))',
  'max without (host) (cpu_usage)',
  'sum without (host, room) (rate(env_temp[90s]))',
];

/** [start, end, step]: aligned with >= 50 points, coarse steps past both ends of the data, and unaligned with < 50 points. */
const RANGES: Array<[number, number, number]> = [
  [BEGIN - 60_000, END, 10_000],
  [BEGIN - 10 * 60_000, NOW, 60_000],
  [BEGIN + 123_456, BEGIN + 123_456 + 40 * 7_000, 7_000],
  [END - 5 * 60_000 + 500, END, 3_000],
];

describe('embedded engine vs VictoriaMetrics 1.79.5 on the same line protocol', () => {
  let vm: VictoriaMetrics;
  let gw: TestGateway;
  let victoria: QueryEngine;
  let embedded: QueryEngine;

  before(async () => {
    [vm, gw] = await Promise.all([startVictoriaMetrics(), startTestGateway()]);
    const lines = corpus();
    for (let i = 0; i < lines.length; i += 5000) {
      const chunk = `${lines.slice(i, i + 5000).join('\n')}\n`;
      await Promise.all([post(`${vm.url}/write?precision=ms`, chunk), post(`${gw.url}/write?precision=ms`, chunk, gw.auth)]);
    }
    await Promise.all([vm.flush(), gw.delivered()]);
    assert.ok(gw.gateway.embedded instanceof EmbeddedStore, 'the gateway stores in DuckDB');
    victoria = new VictoriaMetricsQueryEngine({ shards: [vm.url], timeoutMs: 10_000 });
    // The server runs with -search.disableCache, so it does not align start and end to the step.
    embedded = new EmbeddedQueryEngine(gw.gateway.embedded, { alignStartEnd: false });
  });
  after(async () => {
    await Promise.all([vm?.destroy(), gw?.close()]);
  });

  for (const query of QUERIES) {
    it(query, async () => {
      let points = 0;
      for (const [startMs, endMs, stepMs] of RANGES) {
        const q = { query, startMs, endMs, stepMs };
        const [want, got] = await Promise.all([victoria.range(q), embedded.range(q)]);
        assertSameMatrix(got, want, `${query} [${startMs}..${endMs} step ${stepMs}]`);
        points += want.result.reduce((n, s) => n + s.values.length, 0);
      }
      assert.ok(points > 100, `${query}: VictoriaMetrics answered ${points} points; the test would prove little`);
    });
  }

  it('instant queries', async () => {
    for (const query of ['cpu_usage{dc="x"}', 'sum by (dc) (rate(net_bytes[1m]))', 'avg(env_temp)']) {
      for (const timeMs of [END, END - 123_456, END + 200_000]) {
        const [want, got] = await Promise.all([victoria.instant({ query, timeMs }), embedded.instant({ query, timeMs })]);
        const asMatrix = (r: typeof want): MatrixResult => ({ resultType: 'matrix', result: r.result.map((s) => ({ metric: s.metric, values: [s.value] })) });
        if (want.result.length === 0) assert.deepEqual(got.result, [], `${query} at ${timeMs}`);
        else assertSameMatrix(asMatrix(got), asMatrix(want), `${query} at ${timeMs}`);
      }
    }
  });

  it('series, label names and label values', async () => {
    const range = { startMs: BEGIN, endMs: END };
    assert.deepEqual(await embedded.series({ match: ['env_temp{dc="x"}', 'fast_load'], ...range }), await victoria.series({ match: ['env_temp{dc="x"}', 'fast_load'], ...range }));
    assert.deepEqual(await embedded.labelNames(range), await victoria.labelNames(range));
    assert.deepEqual(await embedded.labelValues('__name__', range), await victoria.labelValues('__name__', range));
    assert.deepEqual(await embedded.labelValues('room', { ...range, match: ['env_temp{dc!="z"}'] }), await victoria.labelValues('room', { ...range, match: ['env_temp{dc!="z"}'] }));
  });

  it('errors: a bad expression is SENTIO_ERR_BAD_QUERY from both, an unreachable server SENTIO_ERR_QUERY_FAILED', async () => {
    const q = { query: 'cpu_usage{', startMs: BEGIN, endMs: END, stepMs: STEP };
    for (const engine of [victoria, embedded]) {
      await assert.rejects(engine.range(q), (err: unknown) => err instanceof SentioError && err.code === 'SENTIO_ERR_BAD_QUERY');
    }
    const down = new VictoriaMetricsQueryEngine({ shards: ['http://127.0.0.1:9'], timeoutMs: 2000 });
    await assert.rejects(down.range({ ...q, query: 'up' }), (err: unknown) => err instanceof SentioError && err.code === 'SENTIO_ERR_QUERY_FAILED');
  });
});

describe('VictoriaMetrics engine over two shards', () => {
  let all: VictoriaMetrics;
  let shards: VictoriaMetrics[];

  before(async () => {
    [all, ...shards] = await Promise.all([startVictoriaMetrics(), startVictoriaMetrics(), startVictoriaMetrics()]);
    const lines = corpus();
    const toA: string[] = [];
    const toB: string[] = [];
    // Hosts a* on shard A, b* on shard B, env_temp of every host on both (replicas).
    for (const line of lines) {
      if (line.startsWith('env,')) {
        toA.push(line);
        toB.push(line);
      } else if (/host=a/.test(line)) toA.push(line);
      else toB.push(line);
    }
    for (const [target, part] of [[all, lines], [shards[0]!, toA], [shards[1]!, toB]] as const) {
      for (let i = 0; i < part.length; i += 5000) await post(`${target.url}/write?precision=ms`, `${part.slice(i, i + 5000).join('\n')}\n`);
      await target.flush();
    }
  });
  after(async () => {
    await Promise.all([all, ...(shards ?? [])].map((s) => s?.destroy()));
  });

  it('answers what one node holding everything answers', async () => {
    const one = new VictoriaMetricsQueryEngine({ shards: [all.url], timeoutMs: 10_000 });
    const two = createQueryEngine({ victoriametrics: shards.map((s) => s.writeUrl), timeoutMs: 10_000 });
    assert.equal(two.name, 'victoriametrics');
    for (const query of [...QUERIES, 'avg(cpu_usage)', 'sum(env_temp)']) {
      const q = { query, startMs: BEGIN - 60_000, endMs: END, stepMs: STEP };
      const [want, got] = await Promise.all([one.range(q), two.range(q)]);
      assertSameMatrix(got, want, `two shards: ${query}`);
      assert.ok(want.result.length > 0, `two shards: ${query}: no series`);
    }
    const range = { startMs: BEGIN, endMs: END };
    assert.deepEqual(await two.series({ match: ['{__name__=~"cpu_usage|env_temp"}'], ...range }), await one.series({ match: ['{__name__=~"cpu_usage|env_temp"}'], ...range }));
    assert.deepEqual(await two.labelValues('host', range), await one.labelValues('host', range));
    const instant = (e: QueryEngine) => e.instant({ query: 'sum by (dc) (cpu_usage)', timeMs: END });
    const asMatrix = (r: Awaited<ReturnType<typeof instant>>): MatrixResult => ({ resultType: 'matrix', result: r.result.map((s) => ({ metric: s.metric, values: [s.value] })) });
    assertSameMatrix(asMatrix(await instant(two)), asMatrix(await instant(one)), 'two shards: instant');
  });

  it('with a vmselect URL only it is asked', async () => {
    // The write URL is a closed port: asking it would fail the query.
    const viaSelect = createQueryEngine({ vmselect: all.url, victoriametrics: ['http://127.0.0.1:9/api/v1/write', shards[0]!.writeUrl] });
    const q = { query: 'sum(cpu_usage)', startMs: BEGIN, endMs: END, stepMs: 60_000 };
    // Float sums in VictoriaMetrics run in no fixed order, so compare within 1e-9.
    assertSameMatrix(await viaSelect.range(q), await new VictoriaMetricsQueryEngine({ shards: [all.url], timeoutMs: 10_000 }).range(q), 'vmselect');
  });
});

it('baseUrlOf', () => {
  assert.equal(baseUrlOf('http://h:8428/api/v1/write'), 'http://h:8428');
  assert.equal(baseUrlOf('http://h:8428/write'), 'http://h:8428');
  assert.equal(baseUrlOf('http://h:8428/'), 'http://h:8428');
  assert.equal(baseUrlOf('https://h/vm/api/v1/write'), 'https://h/vm');
});
