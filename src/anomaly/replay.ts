// `sentio anomaly replay --input FILE.csv [--model NAME]`: scores a series'
// history with exactly the features (the native FeatureStore) and models of
// the live path, streaming: reads `timestamp,value` rows after a header line
// and writes `timestamp,value,anomaly_score` to stdout as it goes.
//
// Each row's score is the larger of two rounds of the live path: one just
// before the row arrives (what a round during a gap would have scored: the
// silence) and one right after it (the row itself). A score is causal: it
// uses the rows up to and including its own. Rows before the series has the
// engine's minimum history, and rows older than the newest before them (the
// live path skips them too), get an empty score.

import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { native } from '../native/index.js';
import { DEFAULT_MIN_SAMPLES } from './engine.js';
import { FEATURES, builtinModels, featureColumns, type Model } from './models.js';

/**
 * A timestamp as Unix ms: ISO-8601 (a time without a zone is UTC, as is
 * `YYYY-MM-DD HH:MM:SS`), or Unix seconds or milliseconds (a number of
 * magnitude 1e11 or more is milliseconds, as VictoriaMetrics guesses).
 * Undefined when it is none of these.
 */
export function parseTimestamp(text: string): number | undefined {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) {
    const v = Number(t);
    return Math.round(Math.abs(v) >= 1e11 ? v : v * 1000);
  }
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i.exec(t);
  if (!m) return undefined;
  const [, date, time, zone] = m;
  const iso = time === undefined ? `${date}T00:00:00Z` : `${date}T${time.replace(',', '.')}${zone ?? 'Z'}`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

export interface ReplayResult {
  rows: number;
  scored: number;
  /** Rows that could not be read (reported, left out of the output). */
  bad: number;
  /** Rows older than the newest before them (written with an empty score). */
  outOfOrder: number;
}

/** Rows scored per model call. */
const CHUNK = 1024;
const SERIES = Buffer.alloc(8);

/** Splits a CSV line into its fields (double-quoted fields may hold commas; "" is a quote). */
function fields(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * Replays `lines` (a header, then rows) through a fresh feature store and
 * `model`; writes the output lines through `write` (awaited: backpressure)
 * and reports bad rows through `warn`.
 */
export async function replay(
  lines: AsyncIterable<string>,
  model: Model,
  write: (text: string) => Promise<void> | void,
  warn: (message: string) => void,
  minSamples = DEFAULT_MIN_SAMPLES,
): Promise<ReplayResult> {
  const store = new native.FeatureStore();
  store.close(); // fed here, by hand: no ingest call names it
  const columns = featureColumns(model.inputs);
  const count = FEATURES.indexOf('count');
  const f = FEATURES.length;
  const k = columns.length;
  const result: ReplayResult = { rows: 0, scored: 0, bad: 0, outOfOrder: 0 };
  let lineNo = 0;
  let tsAt = -1;
  let valueAt = -1;
  // The chunk: each row's output text and its two rounds' inputs (before, after); NaN rows: no round.
  let texts: string[] = [];
  let inputs = new Float64Array(CHUNK * 2 * k);
  let present: boolean[] = [];

  const round = (nowMs: number, slot: number): boolean => {
    const m = store.features(nowMs);
    if (m.ids.length === 0 || m.values[count]! < minSamples) return false;
    for (let c = 0; c < k; c++) inputs[slot * k + c] = m.values[columns[c]!]!;
    return true;
  };
  const flush = async (): Promise<void> => {
    const n = texts.length;
    if (n === 0) return;
    const scores = await model.score(inputs.subarray(0, 2 * n * k), 2 * n);
    let out = '';
    for (let i = 0; i < n; i++) {
      const before = present[2 * i] ? scores[2 * i]! : Number.NaN;
      const after = present[2 * i + 1] ? scores[2 * i + 1]! : Number.NaN;
      const s = Number.isNaN(before) ? after : Number.isNaN(after) ? before : Math.max(before, after);
      if (!Number.isNaN(s)) result.scored++;
      out += `${texts[i]},${Number.isNaN(s) ? '' : String(Math.round(Math.min(1, Math.max(0, s)) * 1e6) / 1e6)}\n`;
    }
    texts = [];
    present = [];
    inputs = new Float64Array(CHUNK * 2 * k);
    await write(out);
  };

  for await (const raw of lines) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const cells = fields(line);
    if (tsAt < 0) {
      const names = cells.map((c) => c.trim().toLowerCase());
      tsAt = names.indexOf('timestamp');
      valueAt = names.indexOf('value');
      if (tsAt < 0 || valueAt < 0) throw new Error(`line ${lineNo}: the header must name a timestamp and a value column, got ${JSON.stringify(line)}`);
      await write('timestamp,value,anomaly_score\n');
      continue;
    }
    const tsText = cells[tsAt]?.trim() ?? '';
    const valueText = cells[valueAt]?.trim() ?? '';
    const ts = parseTimestamp(tsText);
    const value = valueText === '' ? Number.NaN : Number(valueText);
    if (ts === undefined || !Number.isFinite(value)) {
      result.bad++;
      warn(ts === undefined ? `line ${lineNo}: timestamp ${JSON.stringify(tsText)} is not ISO-8601, YYYY-MM-DD HH:MM:SS or Unix seconds/ms` : `line ${lineNo}: value ${JSON.stringify(valueText)} is not a finite number`);
      continue;
    }
    result.rows++;
    const i = texts.length;
    texts.push(`${tsText.includes(',') ? JSON.stringify(tsText) : tsText},${valueText}`);
    present[2 * i] = round(ts - 1, 2 * i);
    const u = store.update(SERIES, Buffer.from(BigInt64Array.of(BigInt(ts)).buffer), Buffer.from(Float64Array.of(value).buffer));
    if (u.outOfOrder > 0) {
      result.outOfOrder++;
      present[2 * i] = false;
      present[2 * i + 1] = false;
    } else present[2 * i + 1] = round(ts, 2 * i + 1);
    if (texts.length === CHUNK) await flush();
  }
  await flush();
  if (tsAt < 0) throw new Error('the input is empty: a header line naming timestamp and value columns is expected');
  return result;
}

const replayUsage = [
  'Usage: sentio anomaly replay --input FILE.csv [--model NAME]',
  '',
  'Scores a series\' history as the live anomaly engine would: reads timestamp,value rows after a header',
  'line (timestamps as ISO-8601, YYYY-MM-DD HH:MM:SS taken as UTC, or Unix seconds/ms; "-" reads stdin)',
  'and writes timestamp,value,anomaly_score to stdout. Rows before the series has enough history, and',
  'rows older than the newest before them, get an empty score.',
  '',
  `  --input FILE   the CSV file`,
  `  --model NAME   one of: ${[...builtinModels.keys()].join(', ')} (default statistical)`,
].join('\n');

/** `sentio anomaly ...`; returns the exit code. */
export async function anomalyCommand(argv: string[], stdin: NodeJS.ReadableStream, stdout: Writable, err: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub === undefined ? err : (s: string) => stdout.write(s))(`${replayUsage}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'replay') {
    err(`sentio anomaly: unknown command "${sub}"\n\n${replayUsage}\n`);
    return 2;
  }
  let values: { input?: string | undefined; model?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({ args: rest, options: { input: { type: 'string' }, model: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    err(`sentio anomaly replay: ${(e as Error).message}\n\n${replayUsage}\n`);
    return 2;
  }
  if (values.help) {
    stdout.write(`${replayUsage}\n`);
    return 0;
  }
  if (values.input === undefined) {
    err(`sentio anomaly replay: --input is required\n\n${replayUsage}\n`);
    return 2;
  }
  const model = builtinModels.get(values.model ?? 'statistical');
  if (model === undefined) {
    err(`sentio anomaly replay: unknown model "${values.model}" (models: ${[...builtinModels.keys()].join(', ')})\n`);
    return 2;
  }
  const input = values.input === '-' ? stdin : createReadStream(values.input);
  const opened = values.input === '-' ? Promise.resolve() : once(input, 'open');
  try {
    await opened;
  } catch (e) {
    err(`sentio anomaly replay: cannot read ${values.input}: ${(e as Error).message}\n`);
    return 1;
  }
  const write = async (text: string): Promise<void> => {
    if (!stdout.write(text)) await once(stdout, 'drain');
  };
  let warned = 0;
  try {
    const r = await replay(createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }), model, write, (m) => {
      if (warned++ < 20) err(`sentio anomaly replay: ${m}\n`);
    });
    if (r.bad > 0) err(`sentio anomaly replay: ${r.bad} of ${r.rows + r.bad} rows could not be read and were left out\n`);
    return r.bad > 0 ? 1 : 0;
  } catch (e) {
    err(`sentio anomaly replay: ${(e as Error).message}\n`);
    return 1;
  }
}
