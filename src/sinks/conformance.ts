// The conformance suite every sink passes (test/sinks.test.ts runs it
// against the blackhole, the embedded DuckDB store and a real
// VictoriaMetrics, directly and behind its durable queue). A harness opens a
// fresh sink on a real backend for each test, names its series with a label
// `run` of its own so tests never see each other's samples, and says how its
// storage is read back and, for a remote sink, how to take the storage away.
// Batches are encoded by the native core from line protocol, as the ingest
// path encodes them, with the encoding the sink declares.
//
// What it checks: signals and encoding; every acked sample stored exactly
// once; the error classes (a malformed batch is a 400 or a counted drop, a
// closed sink a 503); health; close within its grace period while the
// storage does not answer; order per series of batches acked one after
// another; the sink's counters.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SentioError } from '../errors.js';
import type { Metrics } from '../metrics/index.js';
import { native } from '../native/index.js';
import type { EncodedOutput } from '../native/types.js';
import type { MetricsBatch } from '../signals/index.js';
import type { Sink } from './types.js';

/** Stored samples of one series, in storage order. */
export interface StoredSeries {
  labels: Record<string, string>;
  samples: Array<{ timestamp: number; value: number }>;
}

export interface SinkUnderTest {
  sink: Sink;
  /** The registry the sink reports to. */
  metrics: Metrics;
  /** Every stored series labelled with this test's `run`; undefined: the sink keeps nothing (blackhole). */
  stored?(): Promise<StoredSeries[]>;
  /** Resolves once everything acknowledged has reached the storage (a queued sink: delivered). */
  settled(): Promise<void>;
  /** Takes the storage away (a remote server stopped); `end` brings it back. Absent: local storage. */
  outage?(): Promise<{ end(): Promise<void> }>;
  /** Frees what the harness opened besides the sink (after the sink is closed). */
  close(): Promise<void>;
}

export interface SinkHarness {
  /**
   * What a batch the storage cannot take does: 'rejected' (write rejects with
   * SENTIO_ERR_SINK_REJECTED, a 400), 'dropped' (a queued sink takes it, the
   * queue counts it as rejected when the storage refuses it), or 'discarded'
   * (the blackhole: nothing is stored anyway).
   */
  malformed: 'rejected' | 'dropped' | 'discarded';
  open(run: string): Promise<SinkUnderTest>;
}

let runs = 0;

/** Line protocol of `series` series × `points` samples from `t0`, one field each, all labelled `run`. */
function lines(run: string, series: number, points: number, t0: number, value = (s: number, p: number) => s * 1000 + p): string {
  const out: string[] = [];
  for (let p = 0; p < points; p++) for (let s = 0; s < series; s++) out.push(`conf,run=${run},s=s${s} v=${value(s, p)} ${t0 + p}`);
  return `${out.join('\n')}\n`;
}

/** A metrics batch encoded by the core as `sink` declares. */
export function encodeFor(sink: Sink, lp: string): MetricsBatch {
  const r = native.ingest(Buffer.from(lp), { format: 'lp', precision: 'ms', nowMs: Date.now(), outputs: [sink.metricsEncoding] });
  assert.equal(r.rejected, 0, JSON.stringify(r.errors));
  const encoded = r.outputs[0]!;
  return { signal: 'metrics', samples: encoded.samples, encoded };
}

/** A batch no storage takes: columns whose lengths disagree, or a remote-write payload that is not snappy. */
function malformedFor(sink: Sink): MetricsBatch {
  const encoded: EncodedOutput =
    sink.metricsEncoding.encoding === 'columns'
      ? { encoding: 'columns', samples: 2, seriesIds: Buffer.alloc(16), timestamps: Buffer.alloc(16), values: Buffer.alloc(8), distinctIds: Buffer.alloc(8), seriesDefs: Buffer.from('{}'), seriesDefOffsets: Buffer.from([0, 0, 0, 0, 2, 0, 0, 0]) }
      : { encoding: 'remote_write', samples: 2, shards: Array.from({ length: sink.metricsEncoding.shards ?? 1 }, () => Buffer.from('not a snappy protobuf')), shardSamples: Array.from({ length: sink.metricsEncoding.shards ?? 1 }, () => 2) };
  return { signal: 'metrics', samples: 2, encoded };
}

/** Samples stored per series key `s<i>`, for comparison. */
function bySeries(stored: StoredSeries[]): Map<string, Array<[number, number]>> {
  const m = new Map<string, Array<[number, number]>>();
  for (const s of stored) m.set(s.labels['s'] ?? '?', s.samples.map((p) => [p.timestamp, p.value]));
  return m;
}

async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  let total = 0;
  for (const v of m?.values ?? []) if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) total += v.value;
  return total;
}

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

export function sinkConformance(name: string, harness: SinkHarness): void {
  const withSink = (body: (t: SinkUnderTest, run: string) => Promise<void>) => async () => {
    const run = `r${process.pid}_${++runs}_${Date.now()}`;
    const t = await harness.open(run);
    try {
      await body(t, run);
    } finally {
      await t.sink.close(0).catch(() => undefined);
      await t.close();
    }
  };

  describe(`sink conformance: ${name}`, () => {
    test('declares the metrics signal and an encoding the core produces', withSink(async ({ sink }) => {
      assert.ok(sink.signals.includes('metrics'));
      assert.match(sink.name, /^[a-z][a-z0-9_-]*$/);
      const b = encodeFor(sink, lines('x', 2, 2, Date.now()));
      assert.equal(b.encoded.encoding, sink.metricsEncoding.encoding);
      assert.equal(b.samples, 4);
    }));

    test('every acknowledged sample is stored, exactly once', withSink(async (t, run) => {
      const t0 = Date.now() - 60_000;
      // 24 batches of 10 series × 5 samples, 8 in flight at a time.
      const batches = Array.from({ length: 24 }, (_, b) => encodeFor(t.sink, lines(run, 10, 5, t0 + b * 5)));
      for (let i = 0; i < batches.length; i += 8) await Promise.all(batches.slice(i, i + 8).map((b) => t.sink.write(b)));
      await t.settled();
      if (!t.stored) return;
      const got = bySeries(await t.stored());
      assert.equal(got.size, 10);
      for (let s = 0; s < 10; s++) {
        const want = Array.from({ length: 120 }, (_, p): [number, number] => [t0 + p, s * 1000 + (p % 5)]);
        const have = [...(got.get(`s${s}`) ?? [])].sort((a, b) => a[0] - b[0]);
        assert.deepEqual(have, want, `series s${s}`);
      }
    }));

    test('a malformed batch is refused as a 400 or dropped and counted, and the batches around it are stored', withSink(async (t, run) => {
      const t0 = Date.now() - 60_000;
      const before = encodeFor(t.sink, lines(run, 1, 1, t0));
      const after = encodeFor(t.sink, lines(run, 1, 1, t0 + 1));
      await t.sink.write(before);
      const outcome = await t.sink.write(malformedFor(t.sink)).then(
        () => 'accepted',
        (err: unknown) => err,
      );
      await t.sink.write(after);
      await t.settled();
      if (harness.malformed === 'rejected') {
        assert.ok(outcome instanceof SentioError, String(outcome));
        assert.equal(outcome.code, 'SENTIO_ERR_SINK_REJECTED');
        assert.equal(outcome.status, 400);
      } else {
        assert.equal(outcome, 'accepted');
      }
      if (harness.malformed === 'dropped') {
        assert.equal(await counter(t.metrics, 'sentio_queue_dropped_batches_total', { sink: t.sink.name, reason: 'rejected' }), 1);
      }
      if (t.stored) assert.deepEqual(bySeries(await t.stored()).get('s0'), [[t0, 0], [t0 + 1, 0]]);
    }));

    test('health: ok while the storage answers, not ok once closed', withSink(async (t) => {
      assert.deepEqual(await t.sink.health(), { ok: true });
      await t.sink.close(0);
      const h = await t.sink.health();
      assert.equal(h.ok, false);
      assert.ok(h.detail, 'says why');
    }));

    test('after close every write is refused with a 503, and closing again is harmless', withSink(async (t, run) => {
      await t.sink.close(0);
      await t.sink.close(0);
      const err = await t.sink.write(encodeFor(t.sink, lines(run, 1, 1, Date.now()))).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof SentioError, `refused, got ${String(err)}`);
      assert.equal(err.status, 503, err.code);
      assert.ok(['SENTIO_ERR_SINK_UNAVAILABLE', 'SENTIO_ERR_NOT_READY'].includes(err.code), err.code);
    }));

    test('close(grace) returns within the grace period while the storage does not answer', withSink(async (t, run) => {
      if (!t.outage) return;
      const outage = await t.outage();
      try {
        const health = await t.sink.health();
        const write = t.sink.write(encodeFor(t.sink, lines(run, 3, 3, Date.now())));
        // A queued sink takes the batch (healthy, with a backlog); a direct one is unhealthy and keeps retrying.
        if (health.ok) {
          await write;
          assert.match(health.detail ?? '', /batches queued/);
        } else {
          write.catch(() => undefined);
        }
        const started = performance.now();
        await within(1000 + 1500, 'close(1000)', t.sink.close(1000));
        assert.ok(performance.now() - started >= 0);
        if (!health.ok) await assert.rejects(write, (e: unknown) => e instanceof SentioError && e.status === 503);
      } finally {
        await outage.end();
      }
    }));

    test('batches acknowledged one after another are stored in that order', withSink(async (t, run) => {
      if (!t.stored) return;
      const t0 = Date.now() - 60_000;
      for (let i = 0; i < 20; i++) await t.sink.write(encodeFor(t.sink, lines(run, 1, 1, t0 + i, () => i)));
      await t.settled();
      const got = bySeries(await t.stored()).get('s0') ?? [];
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => [t0 + i, i]));
    }));

    test('counts what it stored under its name', withSink(async (t, run) => {
      const b = encodeFor(t.sink, lines(run, 4, 5, Date.now() - 60_000));
      await t.sink.write(b);
      await t.settled();
      assert.equal(await counter(t.metrics, 'sentio_sink_sent_samples_total', { sink: t.sink.name }), 20);
    }));
  });
}
