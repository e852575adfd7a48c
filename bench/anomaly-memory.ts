// Memory per scored series: 100,000 series (25,000 devices × 4 fields of the
// load-test corpus's lines) written over HTTP /write to two built gateways
// on the blackhole sink, one with the anomaly engine off and one scoring
// (--anomaly-interval-s 2, --anomaly-max-series 100000), the same writes to
// both; each gets 20 samples per series (past the engine's 16-sample warm-up,
// so every series is scored), then we wait until a full round has scored
// every series and read:
// - the engine's own account: sentio_anomaly_state_bytes (feature states
//   and labels, native) over sentio_anomaly_series, and the native
//   FeatureStore.bytesPerSeries() (state, id, index entry; no labels);
// - the gateway's RSS (VmRSS) with scoring on minus with it off, over the
//   series: everything, the JS side (the score series ids map, the round's
//   buffers) and allocator slack included.
//
//   npm run bench -- --only anomaly-memory
//   node --import tsx bench/anomaly-memory.ts [--series 100000]

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { corpusLine } from '../load-tests/corpus.js';
import { type Server, scrapeCounter, sentioBuilt, startSentio } from '../load-tests/servers.js';
import { native } from '../src/native/index.js';
import { mulberry32 } from './anomaly-corpus.js';

const TOKEN = 'bench-anomaly';

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

async function scrapeGauge(base: string, name: string): Promise<number> {
  return scrapeCounter(base, name);
}

export async function benchAnomalyMemory(series = 100_000): Promise<string> {
  if (!sentioBuilt()) throw new Error('the gateway is not built: npm run build');
  const devices = Math.ceil(series / 4);
  const rnd = mulberry32(7);
  const bodies: Buffer[] = [];
  for (let b = 0; b * 1000 < devices; b++) {
    const lines: string[] = [];
    for (let d = b * 1000; d < Math.min(devices, (b + 1) * 1000); d++) {
      const line = corpusLine(d, '0', rnd);
      lines.push(line.slice(0, line.lastIndexOf(' ')));
    }
    bodies.push(Buffer.from(`${lines.join('\n')}\n`));
  }
  const servers: Server[] = [];
  try {
    const off = await startSentio({ token: TOKEN, sink: 'blackhole', args: ['--anomaly-interval-s', '0'] });
    servers.push(off);
    const on = await startSentio({ token: TOKEN, sink: 'blackhole', args: ['--anomaly-interval-s', '2', '--anomaly-max-series', String(series)] });
    servers.push(on);
    const rss0 = { off: rssBytes(off.pid), on: rssBytes(on.pid) };
    for (let pass = 0; pass < 20; pass++) {
      for (const body of bodies) {
        for (const s of [off, on]) {
          const res = await fetch(`${s.base}/write?db=bench`, { method: 'POST', body, headers: { authorization: `Token ${TOKEN}` } });
          if (res.status !== 204 && res.status !== 200) throw new Error(`write: HTTP ${res.status} ${await res.text()}`);
        }
      }
      // A millisecond between passes: the same series' samples get distinct timestamps.
      await sleep(2);
    }
    // Until a round scored every series (scores counted since start; the last full round covers all).
    const deadline = Date.now() + 120_000;
    const scoresAtEnd = await scrapeCounter(on.base, 'sentio_anomaly_scores_total');
    while ((await scrapeCounter(on.base, 'sentio_anomaly_scores_total')) - scoresAtEnd < series) {
      if (Date.now() > deadline) throw new Error('no full scoring round within 120 s');
      await sleep(500);
    }
    const tracked = await scrapeGauge(on.base, 'sentio_anomaly_series');
    const stateBytes = await scrapeGauge(on.base, 'sentio_anomaly_state_bytes');
    const rss1 = { off: rssBytes(off.pid), on: rssBytes(on.pid) };
    const delta = rss1.on - rss0.on - (rss1.off - rss0.off);
    const mb = (x: number) => (x / 1e6).toFixed(1);
    return [
      `${series.toLocaleString('en')} series written (20 samples each) to two gateways on the blackhole sink, one scoring every 2 s, one with the engine off`,
      '',
      `| measure | value |`,
      `|---|---|`,
      `| series tracked (sentio_anomaly_series) | ${tracked.toLocaleString('en')} |`,
      `| sentio_anomaly_state_bytes | ${mb(stateBytes)} MB = ${Math.round(stateBytes / tracked)} B per series |`,
      `| FeatureStore.bytesPerSeries() (state, id, index; no labels) | ${native.FeatureStore.bytesPerSeries()} B |`,
      `| RSS, engine off: start → after | ${mb(rss0.off)} → ${mb(rss1.off)} MB |`,
      `| RSS, scoring: start → after | ${mb(rss0.on)} → ${mb(rss1.on)} MB |`,
      `| RSS growth scoring minus off, per scored series | ${Math.round(delta / tracked)} B |`,
    ].join('\n');
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { series: { type: 'string', default: '100000' } } });
  process.stdout.write(`${await benchAnomalyMemory(Number(values.series))}\n`);
}
