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
