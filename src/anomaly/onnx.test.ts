import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { builtinModels } from './models.js';
import { closeOnnxPool, MAX_BATCH, OnnxModel, OnnxModelError, OnnxPool, shippedIforest } from './onnx.js';
import { anomalyCommand } from './replay.js';

const dir = new URL('../../models/iforest/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('model.json', dir), 'utf8')) as { inputs: string[]; onnx: { output: string } };
const bytes = new Uint8Array(readFileSync(new URL('iforest.onnx', dir)));
type Cell = number | 'inf' | '-inf' | null;
const reference = JSON.parse(readFileSync(new URL('reference.json', dir), 'utf8')) as {
  inputs: string[];
  rows: Array<{ kind: string; raw: Cell[]; x: number[]; decision: number; score: number }>;
};
const k = reference.inputs.length;
const n = reference.rows.length;

const pool = new OnnxPool({ threads: 2 });
after(() => Promise.all([pool.close(), closeOnnxPool()]));

function matrix(pick: (r: (typeof reference.rows)[number]) => Cell[] | number[], times = 1): Float64Array {
  const m = new Float64Array(times * n * k);
  for (let t = 0; t < times; t++) {
    reference.rows.forEach((r, i) =>
      pick(r).forEach((v, c) => {
        m[(t * n + i) * k + c] = v === null ? Number.NaN : v === 'inf' ? Number.POSITIVE_INFINITY : v === '-inf' ? Number.NEGATIVE_INFINITY : v;
      }),
    );
  }
  return m;
}

test('the reference set holds normal rows and each kind of injected anomaly', () => {
  assert.deepEqual(reference.inputs, manifest.inputs);
  const kinds = new Set(reference.rows.map((r) => r.kind));
  for (const kind of ['normal', 'spike', 'dip', 'shift', 'silence', 'stuck']) assert.ok(kinds.has(kind), kind);
  assert.ok(n > 200);
});

test("the shipped Isolation Forest in the worker pool gives scikit-learn's decision_function within 1e-5", async () => {
  const model = await OnnxModel.load({ name: 'iforest-raw', version: '1', inputs: manifest.inputs, bytes, output: manifest.onnx.output }, pool);
  assert.equal(model.check.input, 'features');
  const raw = await model.score(matrix((r) => r.x), n);
  let worst = 0;
  reference.rows.forEach((r, i) => (worst = Math.max(worst, Math.abs(raw[i]! - r.decision))));
  assert.ok(worst <= 1e-5, `largest difference ${worst}`);
});

test("builtin iforest: scores from the engine's raw feature vectors equal scikit-learn's calibrated scores within 1e-5", async () => {
  const model = builtinModels.get('iforest');
  assert.equal(model, shippedIforest);
  const scores = await model!.score(matrix((r) => r.raw), n);
  let worst = 0;
  reference.rows.forEach((r, i) => {
    assert.ok(scores[i]! >= 0 && scores[i]! <= 1, `score ${scores[i]} in [0, 1]`);
    worst = Math.max(worst, Math.abs(scores[i]! - r.score));
  });
  assert.ok(worst <= 1e-5, `largest difference ${worst}`);
  // The anomalies score above the normal rows, on the whole.
  const mean = (kind: string) => {
    const s = reference.rows.map((r, i) => (r.kind === kind ? scores[i]! : Number.NaN)).filter((x) => !Number.isNaN(x));
    return s.reduce((a, b) => a + b, 0) / s.length;
  };
  assert.ok(mean('spike') > 5 * mean('normal') && mean('shift') > 5 * mean('normal'), `spike ${mean('spike')}, shift ${mean('shift')}, normal ${mean('normal')}`);
});

test('a round larger than one batch is split into inferences with the same results', async () => {
  const model = await OnnxModel.load({ name: 'iforest-raw', version: '1', inputs: manifest.inputs, bytes, output: manifest.onnx.output }, pool);
  const times = Math.ceil((MAX_BATCH + 1) / n);
  const raw = await model.score(matrix((r) => r.x, times), times * n);
  assert.equal(raw.length, times * n);
  for (let t = 0; t < times; t++) reference.rows.forEach((r, i) => assert.ok(Math.abs(raw[t * n + i]! - r.decision) <= 1e-5, `row ${t * n + i}`));
});

test('a model that cannot be used is refused with a clear error', async () => {
  const load = (spec: Partial<Parameters<typeof OnnxModel.load>[0]>) =>
    OnnxModel.load({ name: 'bad', version: '1', inputs: manifest.inputs, bytes, output: 'scores', ...spec }, pool);
  await assert.rejects(load({ bytes: new TextEncoder().encode('not an onnx model at all') }), (e: Error) => e instanceof OnnxModelError && /not a model onnxruntime can load/.test(e.message));
  await assert.rejects(load({ inputs: ['robust_z', 'peak_z', 'silence_ratio'] }), (e: Error) => e instanceof OnnxModelError && /takes 5 features per row, but 3 inputs are declared/.test(e.message));
  await assert.rejects(load({ output: undefined }), (e: Error) => e instanceof OnnxModelError && /2 outputs \(label, scores\); name the one/.test(e.message));
  await assert.rejects(load({ output: 'nope' }), (e: Error) => e instanceof OnnxModelError && /no output nope/.test(e.message));
  // The label output is int64: not a score.
  await assert.rejects(load({ output: 'label' }), (e: Error) => e instanceof OnnxModelError && /int64; a float tensor is expected/.test(e.message));
});

test('replay --model iforest scores a CSV history', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'sentio-onnx-'));
  try {
    const t0 = Date.UTC(2026, 11, 1);
    let s = 12345;
    const noise = () => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31 - 0.5);
    const rows = ['timestamp,value'];
    const spikeAt = 300;
    for (let i = 0; i < 400; i++) rows.push(`${(t0 + i * 60_000) / 1000},${20 + noise() + (i === spikeAt ? 40 : 0)}`);
    const file = join(tmp, 'h.csv');
    await writeFile(file, `${rows.join('\n')}\n`);
    let out = '';
    let err = '';
    const stdout = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const code = await anomalyCommand(['replay', '--input', file, '--model', 'iforest'], process.stdin, stdout, (e) => (err += e));
    assert.equal(code, 0, err);
    const lines = out.trim().split('\n');
    assert.equal(lines[0], 'timestamp,value,anomaly_score');
    const scores = lines.slice(1).map((l) => l.slice(l.lastIndexOf(',') + 1));
    assert.equal(scores.length, 400);
    assert.ok(scores.slice(0, 15).every((x) => x === ''), 'warming up: no score');
    const scored = scores.slice(15).map(Number);
    assert.ok(scored.every((x) => x >= 0 && x <= 1));
    const ordinary = scored.slice(50, spikeAt - 15).sort((a, b) => a - b);
    assert.ok(scored[spikeAt - 15]! > 0.5, `spike: ${scored[spikeAt - 15]}`);
    assert.ok(ordinary[Math.floor(ordinary.length / 2)]! < 0.1, `ordinary median ${ordinary[Math.floor(ordinary.length / 2)]}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
