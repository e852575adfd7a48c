import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { SentioError } from '../errors.js';
import { silentLogger } from '../log/index.js';
import { FaultyFs } from './faults.js';
import { nodeQueueFs } from './files.js';
import { DurableQueue, type QueueMetrics, type QueueOptions, type ShardSender } from './index.js';

/** A sink whose availability the test switches; records what it got, per shard, in order. */
class TestSender implements ShardSender {
  up = true;
  /** Payloads starting with this are refused for good (a 4xx). */
  rejectPrefix: string | undefined;
  readonly got: string[][] = [[], []];
  attempts = 0;

  async send(shard: number, payload: Buffer): Promise<void> {
    this.attempts++;
    await Promise.resolve();
    const text = payload.toString();
    if (this.rejectPrefix !== undefined && text.startsWith(this.rejectPrefix)) throw new SentioError('SENTIO_ERR_SINK_REJECTED', 'HTTP 400');
    if (!this.up) throw new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', 'connection refused');
    this.got[shard]!.push(text.slice(0, text.lastIndexOf('/')));
  }
}

class TestMetrics implements QueueMetrics {
  appendedBatches = 0;
  deliveredSamples = 0;
  drops: Record<string, { batches: number; samples: number }> = {};
  damagedBytes = 0;
  appended(): void {
    this.appendedBatches++;
  }
  delivered(_shard: number, samples: number): void {
    this.deliveredSamples += samples;
  }
  dropped(_shard: number, reason: string, batches: number, samples: number): void {
    const d = (this.drops[reason] ??= { batches: 0, samples: 0 });
    d.batches += batches;
    d.samples += samples;
  }
  damaged(_shard: number, bytes: number): void {
    this.damagedBytes += bytes;
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sentio-queue-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function open(sender: ShardSender, o: Partial<QueueOptions> = {}, metrics = new TestMetrics()): Promise<DurableQueue> {
  return DurableQueue.open({
    dir,
    shards: 2,
    maxBytes: 1 << 20,
    full: 'refuse',
    fsync: 'batch',
    fsyncIntervalMs: 10,
    segmentBytes: 4096,
    memoryBytes: 1 << 20,
    concurrency: 4,
    retryBaseMs: 2,
    sender,
    metrics,
    log: silentLogger,
    ...o,
  });
}

/** A batch of two shard payloads, `n`-th of a run, ~300 bytes each. */
function batch(n: number): { payloads: Buffer[]; samples: number[] } {
  const body = (shard: number) => Buffer.from(`b${n}/s${shard}/${'x'.repeat(280)}`);
  return { payloads: [body(0), body(1)], samples: [n, n] };
}

/** What the sender records for batches from..to-1 of `shard`. */
const names = (from: number, to: number, shard: number): string[] => Array.from({ length: to - from }, (_, i) => `b${from + i}/s${shard}`);

async function segmentFiles(shard: number): Promise<string[]> {
  return (await readdir(join(dir, `shard-${shard}`))).filter((n) => n.endsWith('.seg')).sort();
}

/** Batches 0..n-1 queued with the sink down, all in one segment per shard, the queue closed; the path of shard 0's segment. */
async function queuedWhileDown(n: number): Promise<{ sender: TestSender; segment: string }> {
  const sender = new TestSender();
  sender.up = false;
  const q = await open(sender, { segmentBytes: 1 << 16 });
  for (let b = 0; b < n; b++) await q.append(batch(b).payloads, batch(b).samples);
  await q.close(0);
  const segs = await segmentFiles(0);
  assert.equal(segs.length, 1);
  return { sender, segment: join(dir, 'shard-0', segs[0]!) };
}

test('delivers every batch in order per shard, and removes delivered segments', async () => {
  const sender = new TestSender();
  const q = await open(sender);
  for (let n = 0; n < 50; n++) await q.append(batch(n).payloads, batch(n).samples);
  await q.drained();
  assert.deepEqual(sender.got[0], names(0, 50, 0));
  assert.deepEqual(sender.got[1], names(0, 50, 1));
  await q.close(1000);
  // 50 × ~324 bytes over 4 KiB segments: many were written, only the last one may remain.
  assert.ok((await segmentFiles(0)).length <= 1, 'delivered segments are removed');
  const again = await open(sender);
  await again.drained();
  assert.equal(sender.got[0]!.length, 50, 'nothing is delivered twice after a clean close');
  await again.close(1000);
});

test('a sink outage fills the queue; it drains when the sink returns, and a restart in between loses nothing', async () => {
  const sender = new TestSender();
  sender.up = false;
  const q = await open(sender);
  for (let n = 0; n < 30; n++) await q.append(batch(n).payloads, batch(n).samples);
  const stats = q.stats();
  assert.equal(stats[0]!.records, 30);
  assert.ok(stats[0]!.oldestMs !== undefined);
  await q.close(20); // the sink is still down: everything stays on disk
  assert.deepEqual(sender.got[0], []);

  const metrics = new TestMetrics();
  const back = await open(sender, {}, metrics);
  assert.equal(back.stats()[0]!.records, 30, 'replayed from disk');
  for (let n = 30; n < 40; n++) await back.append(batch(n).payloads, batch(n).samples);
  sender.up = true;
  await back.drained();
  assert.deepEqual(sender.got[0], names(0, 40, 0));
  assert.deepEqual(sender.got[1], names(0, 40, 1));
  assert.equal(metrics.deliveredSamples, 2 * Array.from({ length: 40 }, (_, n) => n).reduce((a, b) => a + b, 0));
  await back.close(1000);
});

test('after a crash (no close), every acknowledged batch is delivered on restart', async () => {
  const sender = new TestSender();
  sender.up = false;
  const q = await open(sender, { segmentBytes: 1 << 16 });
  for (let n = 0; n < 20; n++) await q.append(batch(n).payloads, batch(n).samples);
  // No close: the process "dies" here. A new queue on the same directory:
  const survivor = new TestSender();
  const back = await open(survivor);
  await back.drained();
  assert.deepEqual(survivor.got[0], names(0, 20, 0));
  assert.deepEqual(survivor.got[1], names(0, 20, 1));
  await back.close(1000);
  await q.close(0);
});

test('a corrupted record in the middle of a segment is skipped and counted; the records around it are delivered', async () => {
  const { sender, segment: path } = await queuedWhileDown(10);
  const bytes = await readFile(path);
  const recordBytes = bytes.byteLength / 10;
  const at = Math.floor(recordBytes * 4.5); // inside record 4
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x40, at);
  await writeFile(path, bytes);

  const metrics = new TestMetrics();
  sender.up = true;
  const back = await open(sender, {}, metrics);
  await back.drained();
  assert.deepEqual(sender.got[0], names(0, 10, 0).filter((_, i) => i !== 4));
  assert.deepEqual(sender.got[1], names(0, 10, 1), 'the other shard is untouched');
  assert.equal(metrics.damagedBytes, recordBytes, 'exactly the damaged record is skipped and counted');
  await back.close(1000);
});

test('a torn tail is salvaged: earlier records delivered, new batches go to a new segment', async () => {
  const { sender, segment: path } = await queuedWhileDown(5);
  const size = (await readFile(path)).byteLength;
  await truncate(path, size - 100); // the last record lost its end

  const metrics = new TestMetrics();
  const back = await open(sender, {}, metrics);
  await back.append(batch(5).payloads, batch(5).samples);
  sender.up = true;
  await back.drained();
  assert.deepEqual(sender.got[0], [...names(0, 4, 0), ...names(5, 6, 0)]);
  assert.ok(metrics.damagedBytes > 0);
  await back.close(1000);
});

test('a full queue refuses new batches with SENTIO_ERR_QUEUE_FULL and keeps every acknowledged one', async () => {
  const sender = new TestSender();
  sender.up = false;
  const q = await open(sender, { maxBytes: 16 * 1024 });
  let acked = 0;
  let refused: unknown;
  for (let n = 0; n < 100 && refused === undefined; n++) {
    try {
      await q.append(batch(n).payloads, batch(n).samples);
      acked++;
    } catch (err) {
      refused = err;
    }
  }
  assert.ok(refused instanceof SentioError && refused.code === 'SENTIO_ERR_QUEUE_FULL', String(refused));
  assert.equal(refused.status, 429);
  assert.ok(acked > 10 && acked < 100);
  assert.ok(q.diskBytes <= 16 * 1024, 'the bound holds');
  sender.up = true;
  await q.drained();
  assert.deepEqual(sender.got[0], names(0, acked, 0));
  await q.append(batch(acked).payloads, batch(acked).samples); // room again
  await q.drained();
  await q.close(1000);
});

test('drop-oldest makes room by dropping whole old segments, and counts every dropped batch', async () => {
  const sender = new TestSender();
  sender.up = false;
  const metrics = new TestMetrics();
  const q = await open(sender, { maxBytes: 16 * 1024, full: 'drop-oldest' }, metrics);
  for (let n = 0; n < 100; n++) await q.append(batch(n).payloads, batch(n).samples);
  assert.ok(q.diskBytes <= 16 * 1024);
  const dropped = metrics.drops.full;
  assert.ok(dropped !== undefined && dropped.batches > 0);
  sender.up = true;
  await q.drained();
  const delivered = sender.got[0]!.length + sender.got[1]!.length;
  assert.equal(delivered + dropped.batches, 200, 'every batch is either delivered or counted as dropped');
  assert.deepEqual(sender.got[0], names(100 - sender.got[0]!.length, 100, 0), 'the newest survive, in order');
  await q.close(1000);
});

test('a full disk or a failed fsync is never acknowledged; the queue refuses for a moment, then recovers', async () => {
  const sender = new TestSender();
  const fs = new FaultyFs(nodeQueueFs);
  const q = await open(sender, { fs });
  await q.append(batch(0).payloads, batch(0).samples);
  fs.faults.diskBytes = fs.written + 500; // room for one record, not two
  await assert.rejects(q.append(batch(1).payloads, batch(1).samples), (e: unknown) => e instanceof SentioError && e.code === 'SENTIO_ERR_QUEUE_UNAVAILABLE' && e.status === 503);
  await assert.rejects(q.append(batch(2).payloads, batch(2).samples), /cannot store batches/, 'refused right after a failure');
  fs.faults.diskBytes = undefined;
  fs.faults.failSync = true;
  await waitFor(async () => {
    try {
      await q.append(batch(3).payloads, batch(3).samples);
      return false;
    } catch (e) {
      return e instanceof SentioError && /fsync failed/.test(e.message);
    }
  });
  fs.faults.failSync = false;
  await waitFor(async () => q.append(batch(4).payloads, batch(4).samples).then(() => true, () => false));
  await q.drained();
  // Only what was acknowledged (0 and 4) is delivered; 1's shard-0 half may also have
  // landed before shard 1 failed, and the client was told to retry it.
  assert.deepEqual(sender.got[1], [...names(0, 1, 1), ...names(4, 5, 1)]);
  await q.close(1000);
  // A write torn half-way (an I/O error mid-record) is refused; the next batch goes to a fresh segment.
  const torn = new FaultyFs(nodeQueueFs, { tearNextWriteAt: 30 });
  const after = new TestSender();
  const again = await open(after, { fs: torn });
  await assert.rejects(again.append(batch(9).payloads, batch(9).samples), /torn/);
  await waitFor(async () => again.append(batch(10).payloads, batch(10).samples).then(() => true, () => false));
  await again.drained();
  // The tear hit one shard's record (whichever wrote first); the other half was stored, and the client was told to retry.
  const nine = [...after.got[0]!, ...after.got[1]!].filter((n) => n.startsWith('b9/'));
  assert.equal(nine.length, 1, `the torn half of batch 9 is not delivered: ${nine}`);
  assert.ok(after.got[0]!.includes('b10/s0') && after.got[1]!.includes('b10/s1'));
  await again.close(0);
});

test('a batch the sink rejects for good is dropped and counted; later batches still go', async () => {
  const sender = new TestSender();
  sender.rejectPrefix = 'b3/';
  const metrics = new TestMetrics();
  const q = await open(sender, {}, metrics);
  for (let n = 0; n < 6; n++) await q.append(batch(n).payloads, batch(n).samples);
  await q.drained();
  assert.deepEqual(sender.got[0], names(0, 6, 0).filter((s) => !s.startsWith('b3/')));
  assert.deepEqual(metrics.drops.rejected, { batches: 2, samples: 6 });
  await q.close(1000);
});

test('fsync interval: batches are acknowledged after the write and synced by the timer', async () => {
  const sender = new TestSender();
  sender.up = false;
  const fs = new FaultyFs(nodeQueueFs);
  // Long enough that the timer cannot fire before a write under load returns, short enough to see it twice.
  const q = await open(sender, { fs, fsync: 'interval', fsyncIntervalMs: 200 });
  await q.append(batch(0).payloads, batch(0).samples);
  assert.equal(fs.syncs, 0, 'no fsync before the acknowledgement');
  await waitFor(async () => fs.syncs >= 2);
  await q.close(0);
});

async function waitFor(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A sender that merges by joining with "|" and records each request. */
class MergingSender extends TestSender {
  readonly requests: string[] = [];
  merges = 0;
  override async send(shard: number, payload: Buffer, _samples?: number, merged?: boolean): Promise<void> {
    this.requests.push(`${merged ? 'merged' : 'single'}:${payload.toString().split('|').length}`);
    const parts = payload.toString().split('|');
    this.attempts++;
    await Promise.resolve();
    if (this.rejectPrefix !== undefined && parts.some((p) => p.startsWith(this.rejectPrefix!))) throw new SentioError('SENTIO_ERR_SINK_REJECTED', 'HTTP 400');
    if (!this.up) throw new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', 'connection refused');
    for (const p of parts) this.got[shard]!.push(p.slice(0, p.lastIndexOf('/')));
  }
  merge(payloads: Buffer[]): Buffer {
    this.merges++;
    return Buffer.from(payloads.map((p) => p.toString()).join('|'));
  }
}

test('records appended in one turn are written with one writev per segment', async () => {
  const fs = new FaultyFs(nodeQueueFs);
  const sender = new TestSender();
  sender.up = false;
  const q = await open(sender, { fs, segmentBytes: 1 << 20, maxBytes: 8 << 20 });
  const before = fs.writes;
  await Promise.all(Array.from({ length: 40 }, (_, i) => {
    const b = batch(i);
    return q.append(b.payloads, b.samples);
  }));
  assert.equal(fs.writes - before, 2, '40 batches over 2 shards: one write each');
  sender.up = true;
  await q.drained();
  assert.equal(sender.got[0]!.length, 40);
  await q.close(0);
});

test('consecutive small records go as one merged request; a merged request refused for good is retried record by record', async () => {
  const sender = new MergingSender();
  sender.up = false;
  const metrics = new TestMetrics();
  const q = await open(sender, { segmentBytes: 1 << 20, maxBytes: 8 << 20, concurrency: 1 }, metrics);
  for (let i = 0; i < 30; i++) {
    const b = batch(i);
    await q.append(b.payloads, b.samples);
  }
  sender.up = true;
  sender.rejectPrefix = 'b17/';
  await q.drained();
  // Shard 0 got every record but b17, in order; the merged request holding b17 was split.
  const want = Array.from({ length: 30 }, (_, i) => `b${i}/s0`).filter((x) => x !== 'b17/s0');
  assert.deepEqual(sender.got[0], want);
  assert.ok(sender.requests.some((r) => r.startsWith('merged:') && Number(r.slice(7)) > 1), `some requests were merged: ${sender.requests.join(' ')}`);
  assert.ok(sender.requests.includes('single:1'), 'the refused group was sent record by record');
  assert.deepEqual(metrics.drops['rejected'], { batches: 2, samples: 2 * 17 }, 'b17 of both shards dropped (17 samples each), counted once each');
  assert.equal(metrics.deliveredSamples, 2 * (435 - 17), 'every other batch delivered once');
  await q.close(0);
});

test('a large record is sent as it is, never merged; the small ones around it are', async () => {
  const merged: number[][] = [];
  const sender = new (class extends MergingSender {
    override merge(payloads: Buffer[]): Buffer {
      merged.push(payloads.map((p) => p.byteLength));
      return super.merge(payloads);
    }
  })();
  sender.up = false;
  const q = await open(sender, { segmentBytes: 1 << 20, maxBytes: 8 << 20, concurrency: 1 });
  for (let i = 0; i < 9; i++) {
    // Record 4 of each shard holds 20 kB: re-encoding it to save one request would cost more than the request.
    const b = i === 4 ? { payloads: [0, 1].map((s) => Buffer.from(`b4/s${s}/${'x'.repeat(20_000)}`)), samples: [4, 4] } : batch(i);
    await q.append(b.payloads, b.samples);
  }
  sender.up = true;
  await q.drained();
  assert.deepEqual(sender.got[0], names(0, 9, 0), 'in order');
  assert.deepEqual(sender.got[1], names(0, 9, 1), 'in order');
  assert.ok(merged.length > 0, 'the small records were merged');
  assert.ok(merged.every((sizes) => sizes.every((n) => n < 16 * 1024)), `no large record merged: ${JSON.stringify(merged)}`);
  await q.close(0);
});
