// Embedded query engine latency: 100 series, 1 hour of data (one sample a
// second, and one every 10 s), range queries over the hour at a 10 s step
// (361 points). Prints p50/p99 per query for the engine (typed-array read
// + JS rollups) and for the earlier plan (one SQL statement with window
// functions and ASOF joins, kept below only as the baseline), and checks
// that both answer the same, also on irregular data with counter resets,
// jitter and duplicate timestamps.
//
// Run: node --import tsx bench/query.ts [--runs N] [--legacy-runs N] [--no-legacy]

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { listValue, type DuckDBValue } from '@duckdb/node-api';
import { EmbeddedQueryEngine, type QueryPlan } from '../src/query/embedded.js';
import { formatValue } from '../src/query/format.js';
import type { MatrixResult, SamplePair } from '../src/query/types.js';
import { buildBatch, recordingMetrics, type FixtureSeries } from '../src/embedded/fixture.js';
import { EmbeddedStore } from '../src/embedded/index.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    'legacy-runs': { type: 'string', default: '20' },
    'no-legacy': { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const LEGACY_RUNS = Number(args['legacy-runs']);
const SERIES = 100;
const HOUR = 3_600_000;
const WARMUP = 3;
const end = Math.floor(Date.now() / 10_000) * 10_000;
const start = end - HOUR;

/** The engine before issue 4: the same series resolution, then one SQL statement per query. */
class LegacyEngine extends EmbeddedQueryEngine {
  protected override async rollup(plan: QueryPlan, ids: bigint[], gids: number[], groups: number, startMs: number, endMs: number, stepMs: number): Promise<SamplePair[][]> {
    const points = Math.floor((endMs - startMs) / stepMs) + 1;
    const window = plan.fn === 'rate' ? plan.windowMs : stepMs;
    const minTs = Math.max(0, startMs - 300_000 - Math.max(plan.windowMs, stepMs));
    const params: DuckDBValue[] = [listValue(ids), listValue(gids), BigInt(minTs), BigInt(endMs), BigInt(startMs), BigInt(stepMs), BigInt(points), BigInt(window)];
    const rows = await this.sink.read<[number, number, number]>(legacySql(plan), params);
    const values: SamplePair[][] = Array.from({ length: groups }, () => []);
    for (const [g, t, v] of rows) values[g]!.push([t / 1000, formatValue(v)]);
    return values;
  }
}

/** 100 counters (c += 0..100 per sample) from 10 minutes before the range to its end. */
async function load(sink: EmbeddedStore, metric: string, intervalMs: number): Promise<number> {
  let n = 0;
  for (let s = 0; s < SERIES; s += 10) {
    const part: FixtureSeries[] = [];
    for (let i = s; i < s + 10; i++) {
      const series: FixtureSeries = { labels: { __name__: metric, host: `h${i}`, dc: `dc${i % 4}` }, samples: [] };
      let c = 0;
      for (let t = start - 10 * 60_000; t <= end; t += intervalMs) series.samples.push({ timestamp: t, value: (c += Math.random() * 100) });
      n += series.samples.length;
      part.push(series);
    }
    await sink.append(buildBatch(part, true));
  }
  return n;
}

/** Deterministic pseudo-random numbers. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/**
 * 20 series for the agreement check: intervals of 0.5..15 s with ±jitter,
 * counters with resets and small drops, a few duplicate timestamps written
 * later (the last written wins), two series with a single sample.
 */
async function loadIrregular(sink: EmbeddedStore): Promise<void> {
  const rnd = random(42);
  const series: FixtureSeries[] = [];
  const dups: FixtureSeries[] = [];
  for (let i = 0; i < 20; i++) {
    const labels = { __name__: 'odd_total', host: `o${i}`, dc: `dc${i % 3}` };
    const s: FixtureSeries = { labels, samples: [] };
    const d: FixtureSeries = { labels, samples: [] };
    const interval = i < 2 ? HOUR * 2 : 500 + Math.floor(rnd() * 14_500);
    let c = 1000;
    for (let t = start - 10 * 60_000 + Math.floor(rnd() * interval); t <= end; t += interval + Math.floor(rnd() * interval * 0.4 - interval * 0.2)) {
      const r = rnd();
      c = r < 0.01 ? rnd() * 10 : r < 0.05 ? c * (1 - rnd() * 0.1) : c + rnd() * 50;
      s.samples.push({ timestamp: t, value: c });
      if (rnd() < 0.02) d.samples.push({ timestamp: t, value: c + 7 });
    }
    series.push(s);
    if (d.samples.length > 0) dups.push(d);
  }
  await sink.append(buildBatch(series, true));
  await sink.append(buildBatch(dups, true));
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

async function measure(engine: EmbeddedQueryEngine, query: string, runs: number): Promise<{ p50: number; p99: number; out: number }> {
  const times: number[] = [];
  let out = 0;
  for (let i = 0; i < runs + WARMUP; i++) {
    const t0 = performance.now();
    const r = await engine.range({ query, startMs: start, endMs: end, stepMs: 10_000 });
    if (i >= WARMUP) times.push(performance.now() - t0);
    out = r.result.length;
  }
  times.sort((a, b) => a - b);
  return { p50: pct(times, 0.5), p99: pct(times, 0.99), out };
}

/**
 * The first difference between two answers (series, timestamps, values
 * within 1e-9 relative, or 1e-9 absolute: a rate over a window where the
 * counter did not move is 0 give or take the rounding of the reset
 * correction, summed in another order by the earlier plan), or ''.
 */
function difference(a: MatrixResult, b: MatrixResult): string {
  if (a.result.length !== b.result.length) return `${a.result.length} vs ${b.result.length} series`;
  for (let i = 0; i < a.result.length; i++) {
    const x = a.result[i]!;
    const y = b.result[i]!;
    if (JSON.stringify(x.metric) !== JSON.stringify(y.metric)) return `series ${i}: ${JSON.stringify(x.metric)} vs ${JSON.stringify(y.metric)}`;
    if (x.values.length !== y.values.length) return `${JSON.stringify(x.metric)}: ${x.values.length} vs ${y.values.length} points`;
    for (let k = 0; k < x.values.length; k++) {
      const [t, v] = x.values[k]!;
      const [u, w] = y.values[k]!;
      const p = Number(v);
      const q = Number(w);
      if (t !== u || !(p === q || Math.abs(p - q) <= 1e-9 * Math.max(1, Math.abs(p), Math.abs(q)))) {
        return `${JSON.stringify(x.metric)} point ${k}: [${t}, ${v}] vs [${u}, ${w}]`;
      }
    }
  }
  return '';
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'sentio-bench-query-'));
const sink = await EmbeddedStore.open({ dataDir: dir, metrics: recordingMetrics() });
try {
  const n1 = await load(sink, 'fast_total', 1000);
  const n10 = await load(sink, 'slow_total', 10_000);
  await loadIrregular(sink);
  const engine = new EmbeddedQueryEngine(sink);
  const legacy = new LegacyEngine(sink);

  // Agreement on every query shape and on unaligned ranges, short windows and coarse steps.
  const shapes = (m: string) => [m, `rate(${m}[1m])`, `rate(${m}[5s])`, `sum by (dc) (rate(${m}[1m]))`, `avg(${m}{host=~"h1.*|o1.*"})`, `max without (host) (${m})`, `min(rate(${m}[90s]))`];
  const ranges: Array<[number, number, number]> = [[start, end, 10_000], [start + 1234, start + 1234 + 40 * 7000, 7000], [start - 600_000, end + 60_000, 60_000], [end - 30_000, end - 30_000, 300_000]];
  let checked = 0;
  const mismatches: string[] = [];
  for (const m of ['odd_total', 'slow_total', 'fast_total']) {
    for (const query of shapes(m)) {
      for (const [startMs, endMs, stepMs] of ranges) {
        const q = { query, startMs, endMs, stepMs };
        const [a, b] = [await engine.range(q), await legacy.range(q)];
        const diff = difference(a, b);
        if (diff) mismatches.push(`${query} [${startMs}..${endMs} step ${stepMs}]: ${diff}`);
        checked++;
      }
    }
  }
  console.log(`agreement with the earlier plan: ${checked - mismatches.length} of ${checked} query x range cases agree (1e-9 relative or absolute)`);
  for (const m of mismatches) console.log(`  differs: ${m}`);

  console.log(`\n${SERIES} series at 1 s (${n1} samples) and ${SERIES} at 10 s (${n10} samples); range 1 h, step 10 s (361 points); ${RUNS} runs (earlier plan: ${LEGACY_RUNS}) after ${WARMUP} warm-up runs each`);
  console.log('| data | query | p50 ms | p99 ms | earlier plan p50 ms | earlier plan p99 ms | series out |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [metric, label] of [['fast_total', '1 s'], ['slow_total', '10 s']] as const) {
    for (const query of [metric, `rate(${metric}[1m])`, `sum by (dc) (rate(${metric}[1m]))`, `avg(${metric}{host=~"h1.*"})`]) {
      const now = await measure(engine, query, RUNS);
      const before = args['no-legacy'] ? undefined : await measure(legacy, query, LEGACY_RUNS);
      const old = before ? [before.p50.toFixed(1), before.p99.toFixed(1)] : ['-', '-'];
      console.log(`| ${label} | \`${query}\` | ${now.p50.toFixed(1)} | ${now.p99.toFixed(1)} | ${old[0]} | ${old[1]} | ${now.out} |`);
    }
  }
  if (mismatches.length > 0) process.exitCode = 1;
} finally {
  await sink.close();
  await rm(dir, { recursive: true, force: true });
}

/**
 * The earlier plan (src/query/embedded.ts before issue 4), unchanged: one
 * statement. Parameters: $1 series ids, $2 their output group, $3..$4 the
 * samples read [minTs, end], $5 start, $6 step, $7 points, $8 the window
 * before adjustment. Rows: (group, t ms as DOUBLE, value).
 */
function legacySql(plan: QueryPlan): string {
  const rate = plan.fn === 'rate';
  const agg = plan.aggregate?.op;
  const samples = `
    sel AS (SELECT unnest($1::BIGINT[]) AS sid, unnest($2::INTEGER[]) AS gid),
    raw AS (
      SELECT series_id AS sid, ts, arg_max(value, rowid) AS v
      FROM samples
      WHERE series_id IN (SELECT sid FROM sel) AND ts BETWEEN $3 AND $4
      GROUP BY series_id, ts
    ),`;
  // Counter resets removed as VictoriaMetrics does: a drop adds the previous value to
  // the correction, a drop of less than 1/8 of it only the difference.
  const counters = rate
    ? `
    lagged AS (SELECT sid, ts, v, lag(v) OVER (PARTITION BY sid ORDER BY ts) AS pv FROM raw),
    s AS (
      SELECT sid, ts, v + coalesce(sum(CASE WHEN v < pv THEN (CASE WHEN (pv - v) * 8 < pv THEN pv - v ELSE pv END) ELSE 0::DOUBLE END)
        OVER (PARTITION BY sid ORDER BY ts ROWS UNBOUNDED PRECEDING), 0::DOUBLE) AS v
      FROM lagged
    ),`
    : `
    s AS (SELECT sid, ts, v FROM raw),`;
  // Scrape interval: the 0.6 quantile (Go's formula) of the first 20 intervals; maxPrev from it.
  const stats = `
    iv AS (SELECT sid, ts, ts - lag(ts) OVER (PARTITION BY sid ORDER BY ts) AS d, row_number() OVER (PARTITION BY sid ORDER BY ts) AS rn FROM s),
    q AS (
      SELECT sid, count(*) AS n, max(ts) AS last_ts,
             list(d::DOUBLE ORDER BY d) FILTER (WHERE rn BETWEEN 2 AND 21) AS ds
      FROM iv GROUP BY sid
    ),
    qi AS (
      SELECT sid, n, last_ts, ds, 0.6::DOUBLE * (len(ds) - 1)::DOUBLE AS rank FROM q
    ),
    si AS (
      SELECT sid, last_ts,
        CASE WHEN n < 2 THEN 300000::BIGINT ELSE trunc(
          ds[floor(rank)::BIGINT + 1] * (1::DOUBLE - (rank - floor(rank))) +
          ds[least(len(ds) - 1, floor(rank)::BIGINT + 1) + 1] * (rank - floor(rank))
        )::BIGINT END AS si0
      FROM qi
    ),
    mp AS (
      SELECT sid, last_ts, CASE WHEN si0 <= 0 THEN 300000::BIGINT ELSE si0 END AS si FROM si
    ),
    mx AS (
      SELECT sid, last_ts,
        CASE WHEN si <= 2000 THEN si * 5 WHEN si <= 4000 THEN si * 3 WHEN si <= 8000 THEN si * 2
             WHEN si <= 16000 THEN si + si // 2 WHEN si <= 32000 THEN si + si // 4 ELSE si + si // 8 END AS mpi
      FROM mp
    ),
    grid AS (
      SELECT mx.sid, mx.last_ts, mx.mpi, greatest($8::BIGINT, mx.mpi) AS win, $5::BIGINT + r.k * $6::BIGINT AS t
      FROM mx, range($7::BIGINT) r(k)
    ),
    a AS (
      SELECT g.*, l.ts AS lt, l.v AS lv FROM grid g ASOF LEFT JOIN s l ON g.sid = l.sid AND g.t >= l.ts
    ),`;
  const value = rate
    ? `
    b AS (SELECT a.*, p.ts AS pt, p.v AS pv FROM a ASOF LEFT JOIN s p ON a.sid = p.sid AND a.t - a.win >= p.ts),
    c AS (SELECT b.*, f.ts AS ft, f.v AS fv FROM b ASOF LEFT JOIN s f ON b.sid = f.sid AND b.t - b.win < f.ts),
    pts AS (
      SELECT sid, t, CASE
        WHEN pt IS NOT NULL AND pt > t - win - mpi AND last_ts > t - win THEN
          CASE WHEN lt > t - win THEN (lv - pv) / ((lt - pt)::DOUBLE / 1000::DOUBLE) ELSE 0::DOUBLE END
        WHEN lt > t - win AND ft < lt THEN (lv - fv) / ((lt - ft)::DOUBLE / 1000::DOUBLE)
      END AS v
      FROM c
    )`
    : `
    pts AS (SELECT sid, t, CASE WHEN lt > t - win THEN lv END AS v FROM a)`;
  const out = agg
    ? `
    SELECT sel.gid, pts.t::DOUBLE AS t, ${agg}(pts.v) AS v
    FROM pts JOIN sel USING (sid)
    WHERE pts.v IS NOT NULL AND NOT isnan(pts.v)
    GROUP BY sel.gid, pts.t
    ORDER BY sel.gid, pts.t`
    : `
    SELECT sel.gid, pts.t::DOUBLE AS t, pts.v
    FROM pts JOIN sel USING (sid)
    WHERE pts.v IS NOT NULL AND NOT isnan(pts.v)
    ORDER BY sel.gid, pts.t`;
  return `WITH ${samples}${counters}${stats}${value}${out}`;
}
