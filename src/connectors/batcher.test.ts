import assert from 'node:assert/strict';
import { test } from 'node:test';
import client from 'prom-client';
import type { IngestResult, Readings } from '../native/types.js';
import type { IngestPort } from '../pipeline/port.js';
import { ReadingsBatcher } from './batcher.js';
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
