// HTTP /write throughput with the anomaly engine scoring every series
// against the same gateway with it off (issue 14's target: on costs ≤ 10 %
// of off, at ≥ 1 M samples/s, 10,000 series).
//
//   npm run bench -- --only anomaly-throughput [--duration S] [--connections N]
//   node --import tsx bench/anomaly-throughput.ts [--duration 10] [--rounds 2] [--interval-s 2]
//
// A built gateway (dist/, `npm run build`) on the blackhole sink, the
// engine off (--anomaly-interval-s 0) or on (--anomaly-interval-s 2: several
// scoring rounds per run); runs alternate off, on, off, on so the noise of a
// shared machine shows. The load: autocannon (load-tests/http.ts), 8
// connections, 1,000-line bodies of the load-test corpus's lines over 2,500
// devices × 4 fields = 10,000 series. The lines carry no timestamp: the
// gateway stamps them on arrival, so every sample is newer than its series'
// last one and the feature store updates on every sample (rotating bodies
// with fixed timestamps would make all but the first pass out of order,
// which the store skips cheaply). Prints samples/s, the on/off ratio, the
// gateway's CPU seconds per million samples and the engine's sample outcomes.

import { parseArgs } from 'node:util';
import { corpusLine, type Corpus } from '../load-tests/corpus.js';
import { runHttpLoad } from '../load-tests/http.js';
import { type Server, cpuSeconds, scrapeCounter, sentioBuilt, startSentio } from '../load-tests/servers.js';
import { mulberry32 } from './anomaly-corpus.js';

const TOKEN = 'bench-anomaly';
export const SERIES = 10_000;
const DEVICES = SERIES / 4;

/** 20 bodies of 1,000 lines without timestamps, together covering every device ten times over. */
export function untimedCorpus(): Corpus {
  const rnd = mulberry32(42);
  const bodies: Buffer[] = [];
  let total = 0;
  for (let b = 0; b < 20; b++) {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const line = corpusLine((b * 1000 + i) % DEVICES, '0', rnd);
      lines.push(line.slice(0, line.lastIndexOf(' ')));
    }
    const body = Buffer.from(`${lines.join('\n')}\n`);
    bodies.push(body);
    total += body.byteLength;
  }
  return { bodies, linesPerBody: 1000, fieldsPerLine: 4, samplesPerBody: 4000, meanBodyBytes: total / bodies.length, totalBytes: total };
}

export interface ThroughputRun {
  scoring: boolean;
  samplesPerSec: number;
  non2xx: number;
  cpuPerMillion: number;
  cpuShare: number;
  updated: number;
  outOfOrder: number;
  scores: number;
}

async function oneRun(scoring: boolean, intervalS: number, duration: number, connections: number, corpus: Corpus): Promise<ThroughputRun> {
  let s: Server | undefined;
  try {
    s = await startSentio({ token: TOKEN, sink: 'blackhole', args: ['--anomaly-interval-s', scoring ? String(intervalS) : '0'] });
    // Warm-up: every series seen, the JIT warm.
    await runHttpLoad({ url: `${s.base}/write?db=bench`, token: TOKEN, connections, duration: 2, corpus });
    const cpu0 = cpuSeconds(s.pid);
    const r = await runHttpLoad({ url: `${s.base}/write?db=bench`, token: TOKEN, connections, duration, corpus });
    const cpu = cpuSeconds(s.pid) - cpu0;
    const samples = r.samplesPerSec * r.seconds;
    const updated = await scrapeCounter(s.base, 'sentio_anomaly_samples_total', 'outcome="updated"');
    const outOfOrder = await scrapeCounter(s.base, 'sentio_anomaly_samples_total', 'outcome="out_of_order"');
    const scores = await scrapeCounter(s.base, 'sentio_anomaly_scores_total');
    return { scoring, samplesPerSec: r.samplesPerSec, non2xx: r.non2xx + r.errors, cpuPerMillion: cpu / (samples / 1e6), cpuShare: cpu / r.seconds, updated, outOfOrder, scores };
  } finally {
    await s?.stop();
  }
}

export async function benchAnomalyThroughput(opts: { duration?: number; rounds?: number; intervalS?: number; connections?: number } = {}): Promise<string> {
  if (!sentioBuilt()) throw new Error('the gateway is not built: npm run build');
  const duration = opts.duration ?? 10;
  const rounds = opts.rounds ?? 2;
  const intervalS = opts.intervalS ?? 2;
  const connections = opts.connections ?? 8;
  const corpus = untimedCorpus();
  const runs: ThroughputRun[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const scoring of [false, true]) {
      const r = await oneRun(scoring, intervalS, duration, connections, corpus);
      process.stderr.write(`anomaly-throughput: ${scoring ? 'on ' : 'off'} ${(r.samplesPerSec / 1e6).toFixed(3)} M samples/s\n`);
      runs.push(r);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const off = mean(runs.filter((r) => !r.scoring).map((r) => r.samplesPerSec));
  const on = mean(runs.filter((r) => r.scoring).map((r) => r.samplesPerSec));
  const lines = [
    `HTTP /write, blackhole sink, ${SERIES.toLocaleString('en')} series, ${connections} connections, 1,000-line bodies, ${duration} s runs (after a 2 s warm-up), scoring on = --anomaly-interval-s ${intervalS}`,
    '',
    '| run | scoring | samples/s | non-2xx | gateway CPU s per M samples | gateway CPU (cores) | engine samples updated / out of order | scores written |',
    '|---|---|---|---|---|---|---|---|',
    ...runs.map((r, i) => `| ${i + 1} | ${r.scoring ? 'on' : 'off'} | ${Math.round(r.samplesPerSec).toLocaleString('en')} | ${r.non2xx} | ${r.cpuPerMillion.toFixed(3)} | ${r.cpuShare.toFixed(2)} | ${r.updated.toLocaleString('en')} / ${r.outOfOrder.toLocaleString('en')} | ${r.scores.toLocaleString('en')} |`),
    '',
    `Mean off ${Math.round(off).toLocaleString('en')} samples/s, on ${Math.round(on).toLocaleString('en')} samples/s: on/off = ${(on / off).toFixed(3)} (target ≥ 0.90 at ≥ 1,000,000 samples/s off).`,
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, rounds: { type: 'string', default: '2' }, 'interval-s': { type: 'string', default: '2' }, connections: { type: 'string', default: '8' } } });
  process.stdout.write(`${await benchAnomalyThroughput({ duration: Number(values.duration), rounds: Number(values.rounds), intervalS: Number(values['interval-s']), connections: Number(values.connections) })}\n`);
}
