import assert from 'node:assert/strict';
import { test } from 'node:test';
import client from 'prom-client';
import { native } from '../native/index.js';
import type { IngestResult, Readings } from '../native/types.js';
import type { IngestPort } from '../pipeline/port.js';
import { ReadingsBatcher, Series } from './batcher.js';
import { Watch } from './staleness.js';
import { ConnectorMetrics, ConnectorStatus } from './status.js';

/** A port whose writes wait until the test releases them. */
function stallingPort() {
  const waiting: Array<() => void> = [];
  const port: IngestPort = {
    writeBytes: () => Promise.reject(new Error('not used')),
    writeReadings: (_p: string, r: Readings) =>
      new Promise<IngestResult>((resolve) =>
        waiting.push(() => resolve({ lines: r.values.length, rejected: 0, samples: r.values.length, skippedStrings: 0, errors: [], outputs: [], unroutedSamples: 0, rejectedLineBytes: 0, rejectedTags: 0 })),
      ),
    overloaded: () => false,
  };
  return { port, release: () => waiting.splice(0).forEach((f) => f()), waiting: () => waiting.length };
}

test('backpressure: full at the bound; drained() resolves once half of it is stored, or when the batcher closes', async () => {
  const p = stallingPort();
  const status = new ConnectorStatus('b', 'mqtt', new ConnectorMetrics(new client.Registry()), 'test:1');
  const b = new ReadingsBatcher({ port: p.port, protocol: 'mqtt', principal: { key: 'connector:b', labels: { connector: 'b' } }, status, maxPendingSamples: 10, maxSamples: 4, maxDelayMs: 1 });
  const stored: Array<Promise<void>> = [];
  for (let i = 0; i < 10; i++) {
    b.sample(`s${i % 2}`, { __name__: `s${i % 2}` }, 1000 + i, i);
    stored.push(b.end());
  }
  assert.equal(b.full, true);
  let drained = false;
  const d = b.drained().then(() => (drained = true));
  // The first batch (4 samples) is in flight; storing it leaves 6 pending: not yet half.
  while (p.waiting() === 0) await new Promise((r) => setImmediate(r));
  p.release();
  await stored[3];
  assert.equal(drained, false);
  // The rest (6) goes as one batch: once stored, nothing is pending.
  while (p.waiting() === 0) await new Promise((r) => setImmediate(r));
  p.release();
  await d;
  assert.equal(b.pendingSamples, 0);
  assert.equal(await b.drained(), undefined, 'not full: at once');
  // Closing wakes a waiter even with samples pending.
  for (let i = 0; i < 10; i++) {
    b.sample('s', { __name__: 's' }, 2000 + i, i);
    void b.end().catch(() => undefined);
  }
  const late = b.drained();
  const closed = b.close(10);
  await late;
  let done = false;
  void closed.then(() => (done = true));
  while (!done) {
    p.release();
    await new Promise((r) => setImmediate(r));
  }
});

test('a Series is in each batch once, beside samples by key, with its labels as the core reads them; the watch sees it', async () => {
  const written: Readings[] = [];
  const port: IngestPort = {
    writeBytes: () => Promise.reject(new Error('not used')),
    writeReadings: async (_p: string, r: Readings) => {
      written.push({ ...r, sampleSeries: r.sampleSeries.slice(), timestamps: r.timestamps.slice(), values: r.values.slice() });
      return { lines: r.values.length, rejected: 0, samples: r.values.length, skippedStrings: 0, errors: [], outputs: [], unroutedSamples: 0, rejectedLineBytes: 0, rejectedTags: 0 };
    },
    overloaded: () => false,
  };
  const watch = new Watch();
  const status = new ConnectorStatus('b', 'modbus', new ConnectorMetrics(new client.Registry()), 'test:1');
  const b = new ReadingsBatcher({ port, protocol: 'modbus', principal: { key: 'connector:b', labels: { connector: 'b' } }, status, maxDelayMs: 1, watch });
  const volts = new Series('volts', { __name__: 'modbus_volts', unit: 'V' });
  for (let batch = 0; batch < 2; batch++) {
    // More samples than a batch's first columns hold: they grow.
    for (let i = 0; i < 300; i++) b.sampleSeries(volts, batch * 1000 + i, i, 5);
    b.sample('amps', { __name__: 'modbus_amps' }, batch * 1000, 1.5);
    b.sampleSeries(volts, batch * 1000 + 300, 300, 5);
    await b.end();
  }
  assert.equal(written.length, 2);
  for (const [n, r] of written.entries()) {
    assert.deepEqual(r.seriesText!.split('\u0001'), ['__name__\u0000modbus_volts\u0000unit\u0000V', '__name__\u0000modbus_amps'], `batch ${n}: each series once`);
    assert.equal(r.values.length, 302);
    assert.deepEqual([...r.sampleSeries.slice(298)], [0, 0, 1, 0]);
    assert.deepEqual([...r.timestamps.slice(299, 302)], [n * 1000 + 299, n * 1000, n * 1000 + 300]);
    assert.deepEqual([...r.values.slice(299, 302)], [299, 1.5, 300]);
  }
  assert.deepEqual(watch.seriesViews().map((v) => v.labels.__name__).sort(), ['modbus_amps', 'modbus_volts']);
  await b.close(10);
});

test('a batch of Series only passes their native ids, which the core maps to their labels', async () => {
  const decoded: Array<Array<{ labels: Record<string, string> }>> = [];
  const seen: Readings[] = [];
  const port: IngestPort = {
    writeBytes: () => Promise.reject(new Error('not used')),
    writeReadings: async (_p: string, r: Readings) => {
      seen.push(r);
      const out = native.ingestReadings(r, { nowMs: 2_000_000_000_000, outputs: [{ encoding: 'remote_write' }] });
      decoded.push(native.decodeRemoteWrite(out.outputs[0]!.shards![0]!));
      return out;
    },
    overloaded: () => false,
  };
  const status = new ConnectorStatus('b', 'modbus', new ConnectorMetrics(new client.Registry()), 'test:1');
  const b = new ReadingsBatcher({ port, protocol: 'modbus', principal: { key: 'connector:b', labels: { connector: 'b' } }, status, maxDelayMs: 1 });
  const volts = new Series('volts', { __name__: 'modbus_volts', unit: 'V' });
  const amps = new Series('amps', { __name__: 'modbus_amps', unit: 'A' });
  b.sampleSeries(amps, 1_700_000_000_000, 2, 0);
  b.sampleSeries(volts, 1_700_000_000_000, 230, 0);
  b.sampleSeries(amps, 1_700_000_001_000, 3, 0);
  await b.end();
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.seriesText, undefined);
  assert.deepEqual([...seen[0]!.seriesIds!], [amps.id, volts.id]);
  assert.deepEqual(decoded[0]!.map((s) => s.labels).sort((x, y) => x.__name__!.localeCompare(y.__name__!)), [
    { __name__: 'modbus_amps', unit: 'A' },
    { __name__: 'modbus_volts', unit: 'V' },
  ]);
  assert.equal(status.view().readingsTotal, 3);
  await b.close(10);
});
