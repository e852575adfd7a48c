// The detection-quality corpus (bench/anomaly-corpus.ts): the same series for
// a seed, labels that cover what was injected, and a floor on the default
// model's spike recall through the replay path (fails if scoring breaks).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statistical } from '../src/anomaly/models.js';
import { KINDS, makeAnomalyCorpus } from './anomaly-corpus.js';
import { evaluate, scoreSeries } from './anomaly-quality.js';

test('the corpus is deterministic for a seed and differs across seeds', () => {
  const a = makeAnomalyCorpus({ seed: 7 });
  const b = makeAnomalyCorpus({ seed: 7 });
  const c = makeAnomalyCorpus({ seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((s) => s.values), c.map((s) => s.values));
  for (const kind of KINDS) assert.ok(a.filter((s) => s.kind === kind).length >= 4, kind);
  assert.ok(a.some((s) => s.kind === 'none' && s.window === undefined));
});

test('each label covers its injected anomaly, after enough history', () => {
  for (const s of makeAnomalyCorpus({ seed: 3 })) {
    for (let i = 1; i < s.ts.length; i++) assert.ok(s.ts[i]! > s.ts[i - 1]!, `${s.name}: increasing timestamps`);
    if (s.kind === 'none') continue;
    const w = s.window!;
    assert.ok(w.startIndex >= 400, `${s.name}: history before the anomaly`);
    const step = s.intervalS * 1000;
    if (s.kind === 'missing') {
      // No sample inside the window; samples right before and at its end.
      assert.equal(s.ts.filter((t) => t >= w.startMs && t < w.endMs).length, 0);
      assert.equal(s.ts[w.startIndex - 1], w.startMs - step);
      assert.equal(s.ts[w.startIndex], w.endMs);
      continue;
    }
    assert.equal(s.ts[w.startIndex], w.startMs);
    assert.equal(s.ts[w.endIndex - 1], w.endMs - step);
    if (s.kind === 'stuck') {
      const inside = s.values.slice(w.startIndex, w.endIndex);
      assert.ok(inside.every((v) => v === inside[0]), `${s.name}: stuck values repeat`);
      assert.notEqual(s.values[w.startIndex - 2], inside[0]);
    }
    if (s.kind === 'spike') {
      const before = s.values.slice(w.startIndex - 50, w.startIndex);
      const sd = Math.sqrt(before.reduce((a, v, i, xs) => a + (v - xs.reduce((x, y) => x + y, 0) / xs.length) ** 2, 0) / before.length);
      const prev = s.values[w.startIndex - 1]!;
      assert.ok(Math.abs(s.values[w.startIndex]! - prev) > 4 * Math.min(sd, s.base === 'white' && s.intervalS === 60 ? 50 : 1), `${s.name}: the spike stands out`);
    }
  }
});

test('the statistical model finds at least 40 % of the spikes at 0.5 and raises no alarm on the normal white-noise series', async () => {
  const corpus = makeAnomalyCorpus({ seed: 1 });
  const spikes = corpus.filter((s) => s.kind === 'spike');
  let detected = 0;
  for (const s of spikes) if (evaluate(s, await scoreSeries(s, statistical), 0.5).detected) detected++;
  assert.ok(detected / spikes.length >= 0.4, `spike recall ${detected}/${spikes.length}`);
  for (const s of corpus.filter((x) => x.kind === 'none' && x.base === 'white')) {
    assert.equal(evaluate(s, await scoreSeries(s, statistical), 0.8).events, 0, s.name);
  }
});
