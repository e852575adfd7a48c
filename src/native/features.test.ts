import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from './index.js';

const T0 = 1_764_547_200_000;
const i64 = (xs: Array<number | bigint>) => Buffer.from(BigInt64Array.from(xs.map((x) => BigInt(x))).buffer);
const f64 = (xs: number[]) => Buffer.from(Float64Array.from(xs).buffer);

test('a FeatureStore takes samples in the columns layout and gives each series its feature vector', () => {
  const names = native.featureNames();
  assert.equal(names[0], 'value');
  assert.ok(names.includes('robust_z') && names.includes('silence_ratio') && names.includes('flat_run'));
  const store = new native.FeatureStore({ alpha: 0.5, maxSeries: 2 });
  const ts = [0, 1, 2, 3, 4].map((k) => T0 + k * 1000);
  const u = store.update(i64([...ts.map(() => 11n), ...ts.map(() => 22n), 33n]), i64([...ts, ...ts, T0]), f64([1, 2, 3, 4, 5, 7, 7, 7, 7, 7, 0]));
  assert.deepEqual(u, { updated: 10, outOfOrder: 0, untracked: 1, newSeries: 2 });
  assert.equal(store.size, 2);
  const m = store.features(T0 + 10_000);
  const rows = new Map<bigint, Record<string, number>>();
  for (let i = 0; i < m.ids.length / 8; i++) rows.set(m.ids.readBigUInt64LE(i * 8), Object.fromEntries(names.map((n, j) => [n, m.values[i * names.length + j]!])));
  const rising = rows.get(11n)!;
  const stuck = rows.get(22n)!;
  assert.equal(rising.value, 5);
  assert.equal(rising.rate, 1, 'one a second');
  assert.equal(rising.median, 3);
  assert.equal(rising.ewma_mean, 1 * 0.0625 + 2 * 0.0625 + 3 * 0.125 + 4 * 0.25 + 5 * 0.5, 'the EW weights of alpha 0.5');
  assert.deepEqual([rising.interval_ms, rising.silence_ms, rising.silence_ratio], [1000, 6000, 6]);
  assert.deepEqual([stuck.flat_run, stuck.flat_ms, stuck.mad, stuck.robust_z], [5, 4000, 0, 0]);
  assert.equal(store.evictIdle(T0 + 100_000), 2);
  assert.deepEqual([store.size, store.evicted], [0, 2]);
  assert.ok(native.FeatureStore.bytesPerSeries() > 500 && native.FeatureStore.bytesPerSeries() < 800);
});

test('a FeatureStore refuses what it cannot read', () => {
  assert.throws(() => new native.FeatureStore({ alpha: 0 }), /alpha must be in \(0, 1\]/);
  const store = new native.FeatureStore();
  assert.throws(() => store.update(Buffer.alloc(7), Buffer.alloc(0), Buffer.alloc(0)), /seriesIds must hold 8-byte words/);
  assert.throws(() => store.update(i64([1, 2]), i64([T0]), f64([1, 2])), /as long, got 2, 1 and 2 samples/);
  assert.throws(() => store.features(1.5), /nowMs must be a safe integer/);
});

test('ingest calls on any thread feed the FeatureStore their options name, with each series labels, until it closes', async () => {
  const store = new native.FeatureStore();
  const lp = (v: number, sec: number) => Buffer.from(`pump,site=a temp=${v} ${T0 / 1000 + sec}000000000\n`);
  const opts = { format: 'lp' as const, nowMs: T0, outputs: [{ encoding: 'columns' as const }], features: store.handle, labels: 'device\0p1' };
  native.ingest(lp(1, 0), opts);
  // A worker thread loads the same addon: its ingest feeds the store of this thread's handle.
  const { Worker } = await import('node:worker_threads');
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const native = require(workerData.addon);
    native.ingest(Buffer.from(workerData.body), workerData.opts);
    parentPort.postMessage('done');`;
  const { createRequire } = await import('node:module');
  const addon = createRequire(import.meta.url).resolve('../../native/napi/index.cjs');
  const w = new Worker(code, { eval: true, workerData: { addon, body: lp(2, 1), opts } });
  await new Promise((resolve, reject) => w.once('message', resolve).once('error', reject));
  await w.terminate();
  assert.deepEqual(store.totals, { updated: 2, outOfOrder: 0, untracked: 0, newSeries: 1 });
  const m = store.features(T0 + 5000);
  const names = native.featureNames();
  assert.equal(m.values[names.indexOf('count')], 2, 'both samples, one from each thread');
  assert.deepEqual(store.labels(Buffer.concat([m.ids, i64([99])])), ['__name__\0pump_temp\0device\0p1\0site\0a', null]);
  assert.ok(store.labelBytes > 20);
  // Without an output that maps nothing is fed; once closed, nothing either.
  native.ingest(lp(3, 2), { ...opts, outputs: [{ encoding: 'none' }] });
  store.close();
  native.ingest(lp(4, 3), opts);
  assert.equal(store.totals.updated, 2);
  assert.throws(() => native.ingest(lp(4, 3), { ...opts, features: 0.5 }), /features must be an integer/);
});

test('each reader of a FeatureStore sees a spike between its reads once', () => {
  const store = new native.FeatureStore();
  const names = native.featureNames();
  const peak = (reader: number) => store.features(T0 + 60_000, reader).values[names.indexOf('peak_z')]!;
  const feed = (vs: number[], from: number) => store.update(i64(vs.map(() => 5)), i64(vs.map((_, k) => T0 + (from + k) * 1000)), f64(vs));
  feed([10, 11, 10, 11, 10, 11, 10, 11, 10, 11], 0);
  peak(0);
  peak(1);
  feed([50, 10, 11], 10);
  assert.ok(peak(0) > 10, 'the spike, no longer the newest value');
  assert.equal(peak(0), 0);
  assert.ok(peak(1) > 10, 'the other reader still has it');
  assert.throws(() => store.features(T0, 4), /reader must be below 4/);
});
