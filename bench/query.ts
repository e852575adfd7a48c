// Embedded query engine latency: 100 series, 1 hour of data (one sample a
// second, and one every 10 s), range queries over the hour at a 10 s step.
// Prints p50/p99 per query. Run: node --import tsx bench/query.ts

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedQueryEngine } from '../src/query/embedded.js';
import { buildBatch, recordingMetrics, type FixtureSeries } from '../src/sinks/embedded/fixture.js';
import { EmbeddedSink } from '../src/sinks/embedded/index.js';

const SERIES = 100;
const HOUR = 3_600_000;
const RUNS = 40;
const end = Math.floor(Date.now() / 10_000) * 10_000;
const start = end - HOUR;

async function load(sink: EmbeddedSink, metric: string, intervalMs: number): Promise<number> {
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
    await sink.write(buildBatch(part, true));
  }
  return n;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'sentio-bench-query-'));
const sink = await EmbeddedSink.open({ dataDir: dir, metrics: recordingMetrics() });
try {
  const n1 = await load(sink, 'fast_total', 1000);
  const n10 = await load(sink, 'slow_total', 10_000);
  console.log(`${SERIES} series at 1 s (${n1} samples) and ${SERIES} at 10 s (${n10} samples); range 1 h, step 10 s (361 points), ${RUNS} runs`);
  const engine = new EmbeddedQueryEngine(sink);
  console.log('| query | p50 ms | p99 ms | series out |');
  console.log('| --- | --- | --- | --- |');
  for (const metric of ['fast_total', 'slow_total']) {
    for (const query of [metric, `rate(${metric}[1m])`, `sum by (dc) (rate(${metric}[1m]))`, `avg(${metric}{host=~"h1.*"})`]) {
      const times: number[] = [];
      let out = 0;
      for (let i = 0; i < RUNS + 3; i++) {
        const t0 = performance.now();
        const r = await engine.range({ query, startMs: start, endMs: end, stepMs: 10_000 });
        if (i >= 3) times.push(performance.now() - t0); // 3 warm-up runs
        out = r.result.length;
      }
      times.sort((a, b) => a - b);
      console.log(`| \`${query}\` | ${pct(times, 0.5).toFixed(1)} | ${pct(times, 0.99).toFixed(1)} | ${out} |`);
    }
  }
} finally {
  await sink.close();
  await rm(dir, { recursive: true, force: true });
}
