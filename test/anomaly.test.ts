// The anomaly engine in a running gateway: samples parsed in the worker pool
// feed the shared feature store, a round scores every series with enough
// history, and the scores are series in the embedded store, named after the
// series they score.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricValue, startTestGateway } from './helpers.js';

/** Deterministic noise in [-0.5, 0.5). */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31 - 0.5;
  };
}

test('a spike between two rounds is scored high, an ordinary series low, and a young series not at all', async () => {
  // Batches to the pool whatever their size or the load: the workers feed the main thread's store.
  const gw = await startTestGateway(['--anomaly-interval-s', '3600', '--inline-max-bytes', '0', '--inline-max-load', '0']);
  try {
    const now = Date.now();
    // The last samples half a second before the round: on time.
    const start = now - 99_500;
    const lines: string[] = [];
    const a = noise(1);
    const b = noise(2);
    for (let k = 0; k < 100; k++) {
      const t = start + k * 1000;
      // Site a's pump spikes on its 98th sample; the two after it are ordinary again.
      lines.push(`pump,site=a temp=${k === 97 ? 35 : 20 + a()} ${t}`, `pump,site=b temp=${20 + b()} ${t}`);
      if (k >= 95) lines.push(`pump,site=c temp=${20 + k / 100} ${t}`);
    }
    const res = await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: gw.auth, body: lines.join('\n') });
    assert.equal(res.status, 204);
    assert.equal(gw.gateway.pipeline.pooledCount, 1, 'parsed in a worker');
    await gw.gateway.anomaly!.roundNow(now);

    const scores = await gw.gateway.embedded!.exportSeries({ metric: 'sentio_anomaly_score' });
    const bySite = new Map(scores.map((s) => [s.labels.site, s]));
    assert.deepEqual([...bySite.keys()].sort(), ['a', 'b'], 'site c has 5 samples: too young to score');
    const sa = bySite.get('a')!;
    assert.deepEqual(sa.labels, { __name__: 'sentio_anomaly_score', metric: 'pump_temp', site: 'a', model: 'statistical', model_version: '1' });
    assert.deepEqual(sa.samples.map((s) => s.timestamp), [now], 'one score, at the round');
    assert.ok(sa.samples[0]!.value > 0.9, `the spike: ${sa.samples[0]!.value}`);
    assert.ok(bySite.get('b')!.samples[0]!.value < 0.3, `ordinary noise: ${bySite.get('b')!.samples[0]!.value}`);

    // The next round: the spike was seen; the series is ordinary again.
    await gw.gateway.anomaly!.roundNow(now + 1000);
    const again = (await gw.gateway.embedded!.exportSeries({ metric: 'sentio_anomaly_score' })).find((s) => s.labels.site === 'a')!;
    assert.ok(again.samples[1]!.value < 0.3, `after the spike: ${again.samples[1]!.value}`);

    const m = await (await fetch(`${gw.url}/metrics`)).text();
    assert.equal(metricValue(m, 'sentio_anomaly_series'), 3);
    assert.equal(metricValue(m, 'sentio_anomaly_samples_total', { outcome: 'updated' }), 205);
    assert.equal(metricValue(m, 'sentio_anomaly_scores_total', { model: 'statistical', model_version: '1' }), 4);
    assert.ok(metricValue(m, 'sentio_anomaly_state_bytes') > 3 * 700);

    // Samples older than a series' newest are counted, not learned.
    await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: gw.auth, body: `pump,site=b temp=1 ${start}` });
    const m2 = await (await fetch(`${gw.url}/metrics`)).text();
    assert.equal(metricValue(m2, 'sentio_anomaly_samples_total', { outcome: 'out_of_order' }), 1);
  } finally {
    await gw.close();
  }
});

test('a series silent for many of its intervals scores high, and is forgotten once idle', async () => {
  const gw = await startTestGateway(['--anomaly-interval-s', '3600', '--anomaly-idle-s', '600']);
  try {
    const now = Date.now();
    const start = now - 200_000;
    const r = noise(3);
    const lines = Array.from({ length: 40 }, (_, k) => `tank,id=t1 level=${50 + r()} ${start + k * 1000}`);
    assert.equal((await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: gw.auth, body: lines.join('\n') })).status, 204);
    // The last sample was 161 s before the round, its interval is 1 s.
    await gw.gateway.anomaly!.roundNow(now);
    const [s] = await gw.gateway.embedded!.exportSeries({ metric: 'sentio_anomaly_score' });
    assert.equal(s!.samples[0]!.value, 1, 'silent');
    // Past --anomaly-idle-s the series is forgotten: no score, no state.
    await gw.gateway.anomaly!.roundNow(now + 600_000);
    const [again] = await gw.gateway.embedded!.exportSeries({ metric: 'sentio_anomaly_score' });
    assert.equal(again!.samples.length, 1);
    const m = await (await fetch(`${gw.url}/metrics`)).text();
    assert.equal(metricValue(m, 'sentio_anomaly_series'), 0);
    assert.equal(metricValue(m, 'sentio_anomaly_evicted_series_total'), 1);
  } finally {
    await gw.close();
  }
});
