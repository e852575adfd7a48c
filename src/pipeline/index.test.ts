import assert from 'node:assert/strict';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { test } from 'node:test';
import type { IngestOptions } from '../native/types.js';
import { Pipeline } from './index.js';

const options: IngestOptions = { format: 'lp', nowMs: 1_700_000_000_000, outputs: [{ encoding: 'remote_write', shards: 1 }], maxErrors: 10, seriesHashes: true };

function batch(lines: number): Buffer {
  const text = Array.from({ length: lines }, (_, i) => `m,dev=d${i % 7} v=${i} ${1_700_000_000_000 + i}`).join('\n');
  // Owned memory, as the HTTP and WebSocket readers hand it over.
  const buf = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  buf.write(text);
  return buf;
}

/** Keeps the event loop busy in slices until `done()`; bounded so a broken estimate fails instead of hanging. */
async function busyUntil(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    const until = Date.now() + 20;
    while (Date.now() < until) {
      // burn the main thread
    }
    await yieldLoop();
  }
}

/** Lets the event loop idle until `done()`. */
async function idleUntil(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('small batches are parsed inline; large ones inline while the main thread is idle and in the pool while it is busy', async () => {
  const p = new Pipeline({ workers: 1, inlineMaxBytes: 1024, inlineMaxLoad: 0.5 });
  try {
    await idleUntil(() => p.mainLoad < 0.2, 'an idle main thread');
    const small = await p.ingest(batch(3), options);
    assert.equal(small.samples, 3);
    const large = await p.ingest(batch(500), options);
    assert.equal(large.samples, 500);
    assert.deepEqual([p.inlineCount, p.pooledCount], [2, 0], 'an idle main thread parses even a large batch itself');

    await busyUntil(() => p.mainLoad > 0.7, 'a busy main thread');
    const busySmall = await p.ingest(batch(3), options);
    assert.equal(busySmall.samples, 3);
    assert.deepEqual([p.inlineCount, p.pooledCount], [3, 0], 'small batches stay inline under load');
    const pooled = await p.ingest(batch(500), options);
    assert.equal(pooled.samples, 500);
    const shards = pooled.outputs[0]?.shards;
    assert.equal(shards?.length, 1);
    assert.ok(Buffer.isBuffer(shards[0]) && Buffer.isBuffer(pooled.seriesHashes), 'pooled results come back as Buffers');
    assert.equal(pooled.seriesHashes.byteLength, 7 * 8, 'one hash per distinct series');
    assert.deepEqual([p.inlineCount, p.pooledCount], [3, 1], 'a large batch goes to the pool while the main thread is busy');

    await idleUntil(() => p.mainLoad < 0.2, 'the load to fall');
    await p.ingest(batch(500), options);
    assert.deepEqual([p.inlineCount, p.pooledCount], [4, 1], 'back inline once the main thread is idle again');
  } finally {
    await p.close();
  }
});

test('--inline-max-load 0 sends every batch over --inline-max-bytes to the pool; --workers 0 parses everything inline', async () => {
  const pool = new Pipeline({ workers: 1, inlineMaxBytes: 1024, inlineMaxLoad: 0 });
  const inline = new Pipeline({ workers: 0, inlineMaxBytes: 1024, inlineMaxLoad: 0 });
  try {
    await pool.ingest(batch(500), options);
    await pool.ingest(batch(3), options);
    assert.deepEqual([pool.inlineCount, pool.pooledCount, pool.mainLoad], [1, 1, 0]);
    await inline.ingest(batch(500), options);
    assert.deepEqual([inline.inlineCount, inline.pooledCount], [1, 0]);
  } finally {
    await Promise.all([pool.close(), inline.close()]);
  }
});

test('workers start with the first pooled batch and end after being idle', async () => {
  const p = new Pipeline({ workers: 2, inlineMaxBytes: 0, inlineMaxLoad: 0, workerIdleMs: 200 });
  try {
    assert.equal(p.threads, 0, 'an idle gateway holds no parser workers');
    assert.equal((await p.ingest(batch(100), options)).samples, 100);
    assert.ok(p.threads >= 1);
    const deadline = Date.now() + 10_000;
    while (p.threads > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(p.threads, 0, 'idle workers ended');
    assert.equal((await p.ingest(batch(10), options)).samples, 10, 'and start again when needed');
  } finally {
    await p.close();
  }
});

test('a worker that dies mid-batch fails only that batch (not acknowledged) and is replaced', async () => {
  const p = new Pipeline({ workers: 1, inlineMaxBytes: 0, inlineMaxLoad: 0 });
  try {
    await p.ingest(batch(100), options); // the worker is up
    const pool = (p as unknown as { pool: { threads: Array<{ terminate(): Promise<number> }> } }).pool;
    const inFlight = p.ingest(batch(200_000), options);
    await pool.threads[0]!.terminate();
    await assert.rejects(inFlight, 'the batch of the dead worker fails, so its sender is told');
    const after = await p.ingest(batch(100), options);
    assert.equal(after.samples, 100, 'a new worker parses the next batch');
    assert.equal(p.threads, 1);
  } finally {
    await p.close();
  }
});
