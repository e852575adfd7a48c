import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { scoreSeriesText } from './engine.js';
import { statistical, statisticalParts } from './models.js';
import { parseTimestamp, replay } from './replay.js';

const T0 = Date.UTC(2026, 11, 1);

/** Deterministic noise in [-0.5, 0.5). */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31 - 0.5;
  };
}

async function* linesOf(text: string): AsyncGenerator<string> {
  yield* text.split('\n');
}

/** Replays rows (t, value) and returns each output row's score (undefined: empty). */
async function scores(rows: Array<[number | string, number | string]>): Promise<{ out: Array<number | undefined>; warnings: string[]; result: Awaited<ReturnType<typeof replay>> }> {
  let text = '';
  const warnings: string[] = [];
  const result = await replay(linesOf(['timestamp,value', ...rows.map(([t, v]) => `${t},${v}`)].join('\n')), statistical, (s) => void (text += s), (w) => warnings.push(w));
  const lines = text.trim().split('\n');
  assert.equal(lines[0], 'timestamp,value,anomaly_score');
  return { out: lines.slice(1).map((l) => (l.endsWith(',') ? undefined : Number(l.slice(l.lastIndexOf(',') + 1)))), warnings, result };
}

test('timestamps: ISO-8601, YYYY-MM-DD HH:MM:SS as UTC, Unix seconds and milliseconds', () => {
  assert.equal(parseTimestamp('2026-12-01T00:00:00Z'), T0);
  assert.equal(parseTimestamp('2026-12-01 00:00:00'), T0, 'no zone: UTC');
  assert.equal(parseTimestamp('2026-12-01T01:00:00+01:00'), T0);
  assert.equal(parseTimestamp('2026-12-01T00:00:00.250'), T0 + 250);
  assert.equal(parseTimestamp('2026-12-01'), T0);
  assert.equal(parseTimestamp(String(T0 / 1000)), T0, 'seconds');
  assert.equal(parseTimestamp(`${T0 / 1000}.5`), T0 + 500);
  assert.equal(parseTimestamp(String(T0)), T0, 'milliseconds');
  for (const bad of ['', 'yesterday', '2026-13-45 10:00:00', '12/01/2026', 'Dec 1 2026']) assert.equal(parseTimestamp(bad), undefined, bad);
});

test('score series are named after the series they score', () => {
  assert.equal(
    scoreSeriesText('__name__\0pump_temp\0model\0x\0site\0a', statistical),
    '__name__\0sentio_anomaly_score\0metric\0pump_temp\0site\0a\0model\0statistical\0model_version\x001',
  );
});

test('the statistical detector: a spike, a level shift, a gap, a stuck sensor; ordinary noise scores low', async () => {
  const r = noise(7);
  const rows: Array<[number, number]> = [];
  let t = T0;
  const add = (v: number, gap = 60_000) => rows.push([(t += gap), v]);
  for (let k = 0; k < 200; k++) add(20 + r());
  const spikeAt = rows.length;
  add(30);
  for (let k = 0; k < 50; k++) add(20 + r());
  const gapAt = rows.length;
  add(20 + r(), 600_000); // 10 intervals late
  for (let k = 0; k < 50; k++) add(20 + r());
  const shiftAt = rows.length;
  for (let k = 0; k < 50; k++) add(26 + r());
  const stuckFrom = rows.length;
  for (let k = 0; k < 100; k++) add(26.125);
  const { out, result } = await scores(rows);
  assert.equal(result.rows, rows.length);
  assert.deepEqual(out.slice(0, 15), new Array(15).fill(undefined), 'warming up: no score');
  assert.ok(out[15]! >= 0);
  const ordinary = out.slice(40, spikeAt) as number[];
  assert.ok(Math.max(...ordinary) < 0.5, `ordinary noise: max ${Math.max(...ordinary)}`);
  assert.ok(ordinary.filter((s) => s > 0).length < ordinary.length * 0.05, 'and mostly 0');
  assert.ok(out[spikeAt]! > 0.9, `spike: ${out[spikeAt]}`);
  assert.ok(out[gapAt]! === 1, `the row after a gap of 10 intervals: ${out[gapAt]}`);
  assert.ok(out[shiftAt]! > 0.9, `level shift: ${out[shiftAt]}`);
  assert.ok(out[stuckFrom + 20]! > 0.9, `stuck for 20 samples: ${out[stuckFrom + 20]}`);
  assert.ok(out[stuckFrom + 2]! < 0.5, `a value repeated twice is not stuck: ${out[stuckFrom + 2]}`);
});

test('a constant series is not stuck, and each part reads its features', () => {
  // value, median, mad, ewma_std, residual, peak_z, silence_ratio, flat_run, typical_flat_run
  assert.deepEqual(statisticalParts([5, 5, 0, 0, 0, 0, 1, 500, Number.NaN]), { deviation: 0, silence: 0, stuck: 0 });
  assert.deepEqual(statisticalParts([5, 5, 0, 0, 0, 0, 4.5, 60, 3]), { deviation: 0, silence: 0.5, stuck: 1 });
  assert.equal(statisticalParts([7, 5, 0.5, 1, 0, 0, 1, 1, 1]).deviation, ramp((7 - 5) / (1.482602218505602 * 0.5), 4, 10));
  assert.equal(statisticalParts([5, 5, 1, 1, 0, 7, 1, 1, 1]).deviation, 0.5, 'the peak between rounds');
});

function ramp(x: number, lo: number, hi: number): number {
  return Math.min(1, Math.max(0, (x - lo) / (hi - lo)));
}

test('replay: bad rows are reported and left out, older rows get no score, quoted fields are read', async () => {
  const rows: Array<[number | string, number | string]> = Array.from({ length: 20 }, (_, k) => [T0 / 1000 + k, 1 + (k % 3)]);
  rows.splice(5, 0, ['soon', 1], [T0 / 1000 + 100, 'NaN']);
  rows.push([T0 / 1000 + 1, 5]);
  const { out, warnings, result } = await scores(rows);
  assert.deepEqual(warnings, ['line 7: timestamp "soon" is not ISO-8601, YYYY-MM-DD HH:MM:SS or Unix seconds/ms', 'line 8: value "NaN" is not a finite number']);
  assert.deepEqual({ ...result }, { rows: 21, scored: 5, bad: 2, outOfOrder: 1 });
  assert.equal(out.length, 21);
  assert.equal(out[20], undefined, 'older than the newest: skipped as the live path skips it');
  await assert.rejects(replay(linesOf('time,v\n1,2'), statistical, () => {}, () => {}), /line 1: the header must name a timestamp and a value column/);
  let text = '';
  await replay(linesOf('"note","value","timestamp"\n"a, ""b""","15",2026-12-01'), statistical, (s) => void (text += s), (w) => assert.fail(w));
  assert.equal(text, 'timestamp,value,anomaly_score\n2026-12-01,15,\n');
});

test('sentio anomaly replay streams a CSV file to stdout', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sentio-replay-'));
  try {
    const file = join(dir, 'h.csv');
    await writeFile(file, ['timestamp,value', ...Array.from({ length: 30 }, (_, k) => `2026-12-01 00:${String(k).padStart(2, '0')}:00,${k === 25 ? 90 : 10 + (k % 2)}`)].join('\r\n'));
    const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'anomaly', 'replay', '--input', file]);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 31);
    assert.equal(lines[26], '2026-12-01 00:25:00,90,1');
    assert.equal(lines[1], '2026-12-01 00:00:00,10,');
    const bad = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'anomaly', 'replay', '--input', file, '--model', 'nope']).catch((e: { code: number; stderr: string }) => e);
    assert.equal((bad as { code: number }).code, 2);
    assert.match((bad as { stderr: string }).stderr, /unknown model "nope" \(models: statistical, iforest\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
