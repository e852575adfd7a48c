import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FACTOR, MIN_GAPS, type TrackedSeries, Watch } from './staleness.js';

/** A watch on a clock the test moves. */
function clocked() {
  let t = 1_000_000;
  const w = new Watch({ now: () => t });
  return { w, at: () => t, advance: (ms: number) => (t += ms) };
}

/** Series `key` reports every `everyMs` for `n` reports, stamped with the clock. */
function report(c: ReturnType<typeof clocked>, key: string, everyMs: number, n: number): void {
  for (let i = 0; i < n; i++) {
    c.w.seen(key, { __name__: key }, c.at());
    if (i < n - 1) c.advance(everyMs);
  }
}

describe('learned staleness', () => {
  it('judges a 1 s meter and a 5 min Zigbee sensor each by its own interval', () => {
    const c = clocked();
    report(c, 'meter', 1000, 20);
    const sensorStart = c.at();
    for (let i = 0; i < 6; i++) c.w.seen('sensor', { __name__: 'sensor' }, sensorStart + i * 300_000, c.at());
    // The sensor's samples carry their own times; its interval is 5 min whatever the arrival.
    const views = Object.fromEntries(c.w.seriesViews().map((v) => [v.labels.__name__, v]));
    assert.equal(views.meter!.intervalMs, 1000);
    assert.equal(views.sensor!.intervalMs, 300_000);
    c.advance(4_000); // 4 meter intervals: the meter is stale; the sensor is not
    let counts = c.w.counts();
    assert.deepEqual(counts.series, { learning: 0, fresh: 1, stale: 1 });
    assert.equal(c.w.seriesViews({ stale: true })[0]!.labels.__name__, 'meter');
    c.advance(FACTOR * 300_000); // and now the sensor has missed its intervals too
    counts = c.w.counts();
    assert.deepEqual(counts.series, { learning: 0, fresh: 0, stale: 2 });
    c.w.seen('meter', { __name__: 'meter' }, c.at());
    assert.equal(c.w.counts().series.stale, 1, 'a report makes it fresh again');
  });

  it('is robust: one long outage or a burst of redelivered samples does not change the interval much', () => {
    const c = clocked();
    report(c, 's', 10_000, 12);
    c.advance(600_000); // an outage of 10 minutes
    report(c, 's', 10_000, 4);
    assert.equal(c.w.seriesViews()[0]!.intervalMs, 10_000);
    // Redelivery: the same timestamps again teach nothing.
    const ts = c.at();
    for (let i = 0; i < 50; i++) c.w.seen('s', { __name__: 's' }, ts);
    assert.equal(c.w.seriesViews()[0]!.intervalMs, 10_000);
  });

  it('is learning until enough gaps are known, then fresh; silence below the floor is never stale', () => {
    const c = clocked();
    report(c, 'fast', 10, MIN_GAPS); // MIN_GAPS reports: MIN_GAPS - 1 gaps
    assert.equal(c.w.seriesViews()[0]!.freshness, 'learning');
    c.advance(10);
    c.w.seen('fast', { __name__: 'fast' }, c.at());
    assert.equal(c.w.seriesViews()[0]!.freshness, 'fresh');
    c.advance(1000); // 100 intervals, but under the 2 s floor
    assert.equal(c.w.seriesViews()[0]!.freshness, 'fresh');
    c.advance(1500);
    assert.equal(c.w.seriesViews()[0]!.freshness, 'stale');
  });

  it('devices: their own rhythm, availability offline beats stale, and availability is no reading', () => {
    const c = clocked();
    for (let i = 0; i < 5; i++) {
      c.w.device('0xa', { device: 'a' }, c.at());
      c.w.device('0xb', { device: 'b' }, c.at());
      c.advance(60_000);
    }
    c.w.device('0xb', { device: 'b' }, c.at(), false);
    assert.deepEqual(c.w.counts().devices, { learning: 0, fresh: 1, stale: 0, offline: 1 });
    c.advance(FACTOR * 60_000);
    // An availability report (online) does not end a's silence.
    c.w.device('0xa', { device: 'a' }, c.at(), true);
    const counts = c.w.counts();
    assert.deepEqual(counts.devices, { learning: 0, fresh: 0, stale: 1, offline: 1 });
    assert.deepEqual(counts.staleDeviceNames, ['a']);
    assert.deepEqual(
      c.w.deviceViews().map((d) => [d.key, d.availability, d.freshness]),
      [
        ['0xb', 'offline', 'stale'],
        ['0xa', 'online', 'stale'],
      ],
    );
    // Renamed: the same device, its new labels.
    c.w.device('0xa', { device: 'hall/a' }, c.at());
    assert.equal(c.w.deviceViews().find((d) => d.key === '0xa')!.labels.device, 'hall/a');
  });

  it('is bounded, and forgets what has been silent for very long', () => {
    let t = 0;
    const w = new Watch({ maxTracked: 2, maxDevices: 1, now: () => t });
    for (const k of ['a', 'b', 'c']) w.seen(k, { __name__: k }, 0);
    w.device('x', {}, 0);
    w.device('y', {}, 0);
    assert.equal(w.counts().untracked, 2);
    assert.equal(w.counts().series.learning, 2);
    t = 30 * 24 * 3600 * 1000;
    const counts = w.counts();
    assert.equal(counts.series.learning + counts.series.stale + counts.series.fresh, 0);
    assert.equal(counts.devices.learning, 0);
  });

  it('a series holding its rhythm is the same series as by key, and is tracked again once forgotten', () => {
    let t = 0;
    const w = new Watch({ now: () => t });
    const s: TrackedSeries = { key: 'k', labels: { __name__: 'm' }, rhythm: undefined };
    w.seen('k', s.labels, 0, 0);
    for (let i = 1; i <= MIN_GAPS; i++) w.seenSeries(s, i * 1000, i * 1000);
    assert.equal(w.seriesViews().length, 1, 'one series, learned by key and by holder alike');
    assert.equal(w.seriesViews()[0]!.intervalMs, 1000);
    t = 30 * 24 * 3600 * 1000;
    assert.equal(w.counts().series.stale + w.counts().series.fresh + w.counts().series.learning, 0, 'forgotten');
    w.seenSeries(s, t, t);
    assert.equal(w.counts().series.learning, 1, 'back, learning anew');
  });
});
