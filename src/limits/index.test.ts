import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SentioError } from '../errors.js';
import { HashSet64 } from './hashset.js';
import { IngestLimits } from './index.js';

function hashes(...hs: number[]): Buffer {
  const b = Buffer.alloc(hs.length * 8);
  hs.forEach((h, i) => b.writeBigUInt64LE(BigInt(h), i * 8));
  return b;
}

const refused = (code: string, retryMin: number, retryMax: number) => (e: unknown) =>
  e instanceof SentioError && e.code === code && typeof e.details?.retryAfterMs === 'number' && e.details.retryAfterMs >= retryMin && e.details.retryAfterMs <= retryMax;

test('samples per second: a full bucket lends one batch, then refuses until the debt is paid', () => {
  let now = 1_000_000;
  const l = new IngestLimits({ maxSamplesPerSecond: 1000, maxSeriesPerMinute: 0 }, () => now);
  l.admit('t1', 2500, undefined); // borrows 1500
  assert.throws(() => l.admit('t1', 1, undefined), refused('SENTIO_ERR_RATE_LIMITED', 1500, 1502));
  l.admit('t2', 500, undefined); // other tokens have their own bucket
  now += 1499;
  assert.throws(() => l.admit('t1', 1, undefined), /RATE|samples\/s/);
  now += 2;
  l.admit('t1', 10, undefined);
  // Refill is capped at one second's worth.
  now += 60_000;
  l.admit('t1', 1000, undefined);
  assert.throws(() => l.admit('t1', 1, undefined), refused('SENTIO_ERR_RATE_LIMITED', 1, 2));
});

test('series per minute: new series beyond the limit refuse the whole batch; known series pass; the window resets on the minute', () => {
  let now = 60_000 * 100 + 10_000;
  const l = new IngestLimits({ maxSamplesPerSecond: 0, maxSeriesPerMinute: 3 }, () => now);
  assert.ok(l.needsSeries);
  l.admit('t', 10, hashes(1, 2));
  l.admit('t', 10, hashes(1, 2)); // nothing new
  assert.throws(() => l.admit('t', 10, hashes(2, 3, 4)), refused('SENTIO_ERR_CARDINALITY_LIMIT', 50_000, 50_000));
  l.admit('t', 10, hashes(3)); // the refused batch added nothing: 3 still fits
  assert.throws(() => l.admit('t', 1, hashes(4)), /distinct series/);
  l.admit('u', 1, hashes(4, 5, 6)); // per token
  now = 60_000 * 101;
  l.admit('t', 1, hashes(4, 5, 6)); // a new minute
  // 2^64-1 and 0 are distinct hashes too
  const big = Buffer.alloc(16);
  big.writeBigUInt64LE(2n ** 64n - 1n, 0);
  assert.throws(() => l.admit('t', 1, big), /CARDINALITY|distinct series/);
});

test('no limits configured: nothing is checked or kept', () => {
  const l = new IngestLimits({ maxSamplesPerSecond: 0, maxSeriesPerMinute: 0 });
  assert.equal(l.enabled, false);
  assert.equal(l.needsSeries, false);
  for (let i = 0; i < 10; i++) l.admit(`t${i}`, 1e9, hashes(1, 2, 3));
});

test('the series set: hashes told apart by either word, the hash 0 among them, kept across growth and cleared on the minute', () => {
  const set = new HashSet64();
  // Same low word, different high words (one probe chain), and the reverse; far more than the first table holds.
  for (let i = 0; i < 5000; i++) set.add(7, i + 1);
  for (let i = 0; i < 5000; i++) set.add(i + 1, 7);
  set.add(0, 0);
  assert.equal(set.size, 9999 + 1, '(7, 7) was added twice');
  for (let i = 0; i < 5000; i++) assert.ok(set.has(7, i + 1) && set.has(i + 1, 7));
  assert.ok(set.has(0, 0));
  assert.equal(set.has(7, 5001), false);
  assert.equal(set.has(8, 8), false);
  set.clear();
  assert.equal(set.size, 0);
  assert.equal(set.has(7, 1) || set.has(0, 0), false);
});

test('series hashes at an unaligned offset are read as well as aligned ones', () => {
  const l = new IngestLimits({ maxSamplesPerSecond: 0, maxSeriesPerMinute: 3 }, () => 0);
  const backing = Buffer.alloc(8 * 3 + 1);
  const unaligned = backing.subarray(1);
  for (let i = 0; i < 3; i++) unaligned.writeBigUInt64LE(BigInt(i + 1) << 40n, i * 8);
  l.admit('t', 3, unaligned);
  l.admit('t', 3, Buffer.from(unaligned)); // the same three series again: they pass
  const fourth = Buffer.alloc(8);
  fourth.writeBigUInt64LE(4n << 40n);
  assert.throws(() => l.admit('t', 1, fourth), /distinct series/);
});
