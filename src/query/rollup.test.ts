// The pieces of the embedded engine's evaluation on hand-made data: how the
// rows DuckDB returns (in any order) become sorted series with the last
// written sample kept, and the VictoriaMetrics 1.79.5 rules of rollup.ts.
// test/query.test.ts compares the whole against a real VictoriaMetrics.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupSeries, type Chunk } from './embedded-samples.js';
import { maxPrevInterval, MAX_SILENCE_MS, removeCounterResets, rollupLast, rollupRate, scrapeInterval, type SeriesSamples } from './rollup.js';

function samples(ts: number[], values: number[]): SeriesSamples {
  return { ts: Float64Array.from(ts), values: Float64Array.from(values), n: ts.length };
}

/** Rows (series, ts, rowid, value) split into chunks of `size`. */
function chunks(rows: Array<[number, number, number, number]>, size: number): Chunk[] {
  const out: Chunk[] = [];
  for (let i = 0; i < rows.length; i += size) {
    const part = rows.slice(i, i + size);
    out.push({
      sid: Int32Array.from(part.map((r) => r[0])),
      ts: Float64Array.from(part.map((r) => r[1])),
      row: Float64Array.from(part.map((r) => r[2])),
      val: Float64Array.from(part.map((r) => r[3])),
    });
  }
  return out;
}

function grouped(seriesCount: number, cs: Chunk[]): Map<number, [number[], number[]]> {
  const out = new Map<number, [number[], number[]]>();
  groupSeries(seriesCount, cs, (i, s) => out.set(i, [Array.from(s.ts.subarray(0, s.n)), Array.from(s.values.subarray(0, s.n))]));
  return out;
}

describe('groupSeries', () => {
  it('rows in order: per series, equal times keep the last written', () => {
    const rows: Array<[number, number, number, number]> = [
      [0, 10, 1, 1], [1, 10, 2, 5], [0, 20, 3, 2], [0, 20, 4, 3], [1, 30, 5, 6],
    ];
    assert.deepEqual(grouped(3, chunks(rows, 2)), new Map([
      [0, [[10, 20], [1, 3]]],
      [1, [[10, 30], [5, 6]]],
    ]));
  });

  it('rows in any order (parallel scan, late writes): sorted by time, then rowid', () => {
    // Series 0 written as 10, 30, 20 (a late sample), then a duplicate of 20 (rowid 9 wins);
    // DuckDB hands back the rows shuffled across chunks.
    const rows: Array<[number, number, number, number]> = [
      [0, 20, 9, 99], [0, 30, 2, 3], [1, 5, 4, 7], [0, 10, 1, 1], [0, 20, 3, 2], [1, 6, 5, 8], [0, 40, 6, 4], [1, 4, 7, 6],
    ];
    const want = new Map([
      [0, [[10, 20, 30, 40], [1, 99, 3, 4]]],
      [1, [[4, 5, 6], [6, 7, 8]]],
    ]);
    for (const size of [1, 3, 8]) assert.deepEqual(grouped(2, chunks(rows, size)), want, `chunks of ${size}`);
    // Reversed: the duplicate pair comes the other way round too.
    assert.deepEqual(grouped(2, chunks([...rows].reverse(), 3)), want);
  });

  it('agrees with a plain sort on shuffled blocks, duplicates and late samples (seeded)', () => {
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 50; round++) {
      // Rows in rowid order: 3 series, mostly ascending times, some late samples and duplicates.
      const rows: Array<[number, number, number, number]> = [];
      const clock = [0, 0, 0];
      for (let r = 0; r < 300; r++) {
        const sid = Math.floor(rnd() * 3);
        const u = rnd();
        const t = u < 0.05 ? Math.max(0, clock[sid]! - Math.floor(rnd() * 50)) : u < 0.1 ? clock[sid]! : (clock[sid]! += 1 + Math.floor(rnd() * 10));
        rows.push([sid, t, r, Math.floor(rnd() * 1000)]);
      }
      // What DuckDB may hand back: blocks of rows in another order.
      const blocks: Array<typeof rows> = [];
      for (let i = 0; i < rows.length; ) {
        const n = 1 + Math.floor(rnd() * 60);
        blocks.push(rows.slice(i, i + n));
        i += n;
      }
      blocks.sort(() => rnd() - 0.5);
      const got = grouped(3, chunks(blocks.flat(), 1 + Math.floor(rnd() * 40)));
      const want = new Map<number, [number[], number[]]>();
      for (let sid = 0; sid < 3; sid++) {
        const last = new Map<number, number>();
        for (const [s, t, , v] of rows) if (s === sid) last.set(t, v); // rowid order: the last written wins
        const ts = [...last.keys()].sort((a, b) => a - b);
        if (ts.length > 0) want.set(sid, [ts, ts.map((t) => last.get(t)!)]);
      }
      assert.deepEqual(got, want, `round ${round}`);
    }
  });

  it('many ordered runs merge into one', () => {
    const rows: Array<[number, number, number, number]> = [];
    for (let run = 4; run >= 0; run--) for (let k = 0; k < 7; k++) rows.push([0, run * 100 + k, run * 100 + k, run * 100 + k]);
    const [ts, values] = grouped(1, chunks(rows, 4)).get(0)!;
    assert.deepEqual(ts, [...ts].sort((a, b) => a - b));
    assert.deepEqual(values, ts);
    assert.equal(ts.length, 35);
  });
});

describe('rollup rules (VictoriaMetrics 1.79.5)', () => {
  it('scrape interval: 0.6 quantile of the first 20 intervals; maxPrev margins', () => {
    assert.equal(scrapeInterval(samples([0], [1])), MAX_SILENCE_MS);
    assert.equal(scrapeInterval(samples([0, 10_000], [1, 2])), 10_000);
    // Intervals 1, 2, 3, 4, 5 s: rank 0.6 * 4 = 2.4 -> 3 s + 0.4 * 1 s.
    assert.equal(scrapeInterval(samples([0, 1000, 3000, 6000, 10_000, 15_000], [0, 0, 0, 0, 0, 0])), 3400);
    // Only the first 20 intervals count: a later gap changes nothing.
    const ts = Array.from({ length: 30 }, (_, i) => (i < 21 ? i * 1000 : 20_000 + (i - 20) * 60_000));
    assert.equal(scrapeInterval(samples(ts, ts)), 1000);
    assert.deepEqual([1000, 3000, 5000, 10_000, 20_000, 60_000].map(maxPrevInterval), [5000, 9000, 10_000, 15_000, 25_000, 67_500]);
  });

  it('counter resets: a drop adds the previous value, a drop under 1/8 only the difference', () => {
    const s = samples([0, 1, 2, 3, 4], [100, 95, 96, 10, 20]);
    // 95 is jitter (drop of 5 < 100/8): +5; 10 is a reset (drop of 86 >= 96/8): +96.
    assert.deepEqual(Array.from(removeCounterResets(s)), [100, 100, 101, 111, 121]);
  });

  it('selector: the last sample in (t - window, t]', () => {
    const s = samples([10_000, 20_000, 30_000], [1, 2, 3]);
    const out = new Float64Array(6);
    rollupLast(s, { t0: 0, step: 10_000, points: 6 }, 15_000, out);
    assert.deepEqual(Array.from(out), [NaN, 1, 2, 3, 3, NaN]);
  });

  it('rate: from prev when it is recent enough, else over the window; 0 for an empty window after prev', () => {
    const ts = [0, 10_000, 20_000, 30_000, 40_000];
    const s = samples(ts, [0, 10, 20, 30, 40]);
    const out = new Float64Array(7);
    rollupRate(s, s.values, { t0: 0, step: 10_000, points: 7 }, 20_000, 15_000, out);
    // t=0, 10 s: no prev at or before t - 20 s, one or two samples in the window:
    // none, then (10 - 0) / 10 s. Then prev is t - 20 s: 20 / 20 s = 1 per second.
    // t=50 s: prev (30 s) is younger than maxPrev and 40 s follows it: 1. t=60 s: prev 40 s, nothing after it: none.
    assert.deepEqual(Array.from(out), [NaN, 1, 1, 1, 1, 1, NaN]);
    const gap = samples([0, 10_000, 100_000], [0, 10, 20]);
    rollupRate(gap, gap.values, { t0: 40_000, step: 10_000, points: 1 }, 20_000, 15_000, out);
    assert.equal(out[0], 0, 'prev at 10 s is 10 s old (< maxPrev) and a later sample exists, the window is empty');
  });
});
