// Detection quality of every model in builtinModels over the labelled corpus
// (bench/anomaly-corpus.ts), each series replayed through the replay path
// (src/anomaly/replay.ts: the live path's FeatureStore and models, a score
// per row). Prints a Markdown table per threshold.
//
//   npm run bench -- --only anomaly-quality      (or: node --import tsx bench/anomaly-quality.ts [--seed N] [--thresholds 0.8,0.5])
//
// Definitions (printed with the tables too):
// - alarm event: a run of consecutive rows of one series scoring ≥ the
//   threshold (a row without a score, before warm-up, ends a run).
// - grace: 10 reporting intervals after a window's end.
// - recall (events): labelled windows with a score ≥ threshold at a row
//   whose time is in [start, end + grace), over all labelled windows.
// - precision (events): alarm events that overlap [start, end + grace) of
//   their series' window, over all alarm events on those series; the "all"
//   row adds the normal series, where every alarm event is a false positive.
// - delay: from the window's start to the first row in [start, end + grace)
//   scoring ≥ threshold, over detected windows: median and p90, in samples
//   (reporting intervals) and seconds.

import { parseArgs } from 'node:util';
import { builtinModels, type Model } from '../src/anomaly/models.js';
import { replay } from '../src/anomaly/replay.js';
import { closeOnnxPool } from '../src/anomaly/onnx.js';
import { KINDS, type Kind, type LabelledSeries, csvLines, makeAnomalyCorpus } from './anomaly-corpus.js';

export const GRACE_INTERVALS = 10;

export const DEFINITIONS = [
  '- alarm event: a run of consecutive rows of one series scoring ≥ the threshold (a row without a score ends a run)',
  `- recall: labelled windows with a score ≥ threshold at a row in [start, end + grace), grace = ${GRACE_INTERVALS} reporting intervals; over all windows`,
  '- precision: alarm events overlapping their series\' [start, end + grace), over all alarm events on the series of that kind ("all" adds the normal series)',
  '- delay: window start → first row ≥ threshold in [start, end + grace), over detected windows; median / p90, in samples and seconds',
];

/** Each row's score (NaN: none) for `s` under `model`, through replay(). */
export async function scoreSeries(s: LabelledSeries, model: Model): Promise<number[]> {
  const scores: number[] = [];
  let header = true;
  async function* lines(): AsyncGenerator<string> {
    yield* csvLines(s);
  }
  const result = await replay(
    lines(),
    model,
    (text) => {
      for (const line of text.split('\n')) {
        if (line === '') continue;
        if (header) {
          header = false;
          continue;
        }
        const cell = line.slice(line.lastIndexOf(',') + 1);
        scores.push(cell === '' ? Number.NaN : Number(cell));
      }
    },
    (m) => {
      throw new Error(`${s.name}: ${m}`);
    },
  );
  if (result.rows !== s.ts.length || scores.length !== s.ts.length) throw new Error(`${s.name}: ${s.ts.length} rows in, ${scores.length} scores out`);
  return scores;
}

export interface SeriesOutcome {
  detected: boolean;
  delayMs?: number | undefined;
  delaySamples?: number | undefined;
  events: number;
  trueEvents: number;
}

/** Recall, precision and delay of one series' scores at `threshold` (see the definitions above). */
export function evaluate(s: LabelledSeries, scores: number[], threshold: number): SeriesOutcome {
  const w = s.window;
  const lo = w?.startMs ?? Number.POSITIVE_INFINITY;
  const hi = w === undefined ? Number.NEGATIVE_INFINITY : w.endMs + GRACE_INTERVALS * s.intervalS * 1000;
  const out: SeriesOutcome = { detected: false, events: 0, trueEvents: 0 };
  let runStart = -1;
  const close = (endIdx: number) => {
    out.events++;
    if (s.ts[runStart]! < hi && s.ts[endIdx]! >= lo) out.trueEvents++;
    runStart = -1;
  };
  for (let i = 0; i < scores.length; i++) {
    const hit = scores[i]! >= threshold;
    const t = s.ts[i]!;
    if (hit && !out.detected && t >= lo && t < hi) {
      out.detected = true;
      out.delayMs = t - lo;
      out.delaySamples = out.delayMs / (s.intervalS * 1000);
    }
    if (hit && runStart < 0) runStart = i;
    if (!hit && runStart >= 0) close(i - 1);
  }
  if (runStart >= 0) close(scores.length - 1);
  return out;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

const fmt = (x: number, d = 0) => (Number.isNaN(x) ? '–' : x.toFixed(d));

export async function qualityTables(seed: number, thresholds: number[]): Promise<string> {
  const corpus = makeAnomalyCorpus({ seed });
  const out: string[] = [];
  const samples = corpus.reduce((a, s) => a + s.ts.length, 0);
  out.push(`Corpus: seed ${seed}, ${corpus.length} series (${corpus.filter((s) => s.kind === 'none').length} normal), ${samples} samples; models: ${[...builtinModels.keys()].join(', ')}`);
  out.push('', ...DEFINITIONS, '');
  for (const model of builtinModels.values()) {
    const started = performance.now();
    const scored = await Promise.all(corpus.map(async (s) => [s, await scoreSeries(s, model)] as const));
    const seconds = (performance.now() - started) / 1000;
    for (const threshold of thresholds) {
      out.push(`**${model.name}** v${model.version}, threshold ${threshold} (replayed in ${seconds.toFixed(1)} s)`, '');
      out.push('| kind | windows | recall | alarm events | precision | delay median (samples / s) | delay p90 (samples / s) |');
      out.push('|---|---|---|---|---|---|---|');
      let allEvents = 0;
      let allTrue = 0;
      for (const kind of [...KINDS, 'none' as Kind]) {
        const outcomes = scored.filter(([s]) => s.kind === kind).map(([s, sc]) => [s, evaluate(s, sc, threshold)] as const);
        const events = outcomes.reduce((a, [, o]) => a + o.events, 0);
        const trueEvents = outcomes.reduce((a, [, o]) => a + o.trueEvents, 0);
        allEvents += events;
        allTrue += trueEvents;
        if (kind === 'none') {
          const rows = outcomes.reduce((a, [s]) => a + s.ts.length, 0);
          out.push(`| none (normal) | – | – | ${events} (${fmt((events / rows) * 1000, 2)} per 1,000 samples) | – | – | – |`);
          continue;
        }
        const detected = outcomes.filter(([, o]) => o.detected);
        const ds = detected.map(([, o]) => o.delaySamples!);
        const dms = detected.map(([, o]) => o.delayMs! / 1000);
        out.push(
          `| ${kind} | ${outcomes.length} | ${fmt((detected.length / outcomes.length) * 100)} % | ${events} | ${events === 0 ? '–' : `${fmt((trueEvents / events) * 100)} %`} | ${fmt(quantile(ds, 0.5))} / ${fmt(quantile(dms, 0.5))} | ${fmt(quantile(ds, 0.9))} / ${fmt(quantile(dms, 0.9))} |`,
        );
      }
      out.push(`| all | | | ${allEvents} | ${allEvents === 0 ? '–' : `${fmt((allTrue / allEvents) * 100)} %`} | | |`, '');
    }
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { seed: { type: 'string', default: '1' }, thresholds: { type: 'string', default: '0.8,0.5' } } });
  try {
    process.stdout.write(`${await qualityTables(Number(values.seed), values.thresholds.split(',').map(Number))}\n`);
  } finally {
    await closeOnnxPool();
  }
}
