import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { SentioError } from '../errors.js';
import { columnBatchOf, EmbeddedStore, type ExportedSeries } from './index.js';
import { buildBatch, canonicalJson, recordingMetrics, seriesId, type FixtureSeries, type RecordedMetrics } from './fixture.js';

let dir: string;
let metrics: RecordedMetrics;
const open = (file?: string) => EmbeddedStore.open({ dataDir: dir, metrics, ...(file ? { file } : {}) });

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sentio-embedded-'));
  metrics = recordingMetrics();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Sorted like exportSeries sorts: by metric, then canonical labels. */
function expected(series: FixtureSeries[]): ExportedSeries[] {
  const merged = new Map<string, ExportedSeries>();
  for (const s of series) {
    const key = canonicalJson(s.labels);
    const e = merged.get(key) ?? { labels: JSON.parse(key) as Record<string, string>, samples: [] };
    e.samples.push(...s.samples);
    merged.set(key, e);
  }
  for (const e of merged.values()) e.samples.sort((a, b) => a.timestamp - b.timestamp);
  const metric = (e: ExportedSeries) => e.labels['__name__'] ?? '';
  return [...merged.entries()]
    .sort(([ka, a], [kb, b]) => (metric(a) < metric(b) ? -1 : metric(a) > metric(b) ? 1 : ka < kb ? -1 : ka > kb ? 1 : 0))
    .map(([, e]) => e);
}

/** deepEqual, but values compared with Object.is (NaN equals NaN, -0 differs from 0). */
function assertSameSeries(actual: ExportedSeries[], want: ExportedSeries[]): void {
  assert.deepEqual(
    actual.map((s) => s.labels),
    want.map((s) => s.labels),
  );
  for (let i = 0; i < want.length; i++) {
    const a = actual[i]!.samples;
    const w = want[i]!.samples;
    assert.equal(a.length, w.length, `series ${i}: sample count`);
    for (let j = 0; j < w.length; j++) {
      assert.equal(a[j]!.timestamp, w[j]!.timestamp, `series ${i} sample ${j}: timestamp`);
      assert.ok(Object.is(a[j]!.value, w[j]!.value), `series ${i} sample ${j}: ${a[j]!.value} !== ${w[j]!.value}`);
    }
  }
}

const T0 = 1_735_689_600_000; // 2025-01-01

describe('EmbeddedStore', () => {
  it('exports every sample written, bit for bit, ordered by time', async () => {
    const special = [0, -0, -1.5, 42, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, Infinity, -Infinity, NaN, 0.1 + 0.2];
    const series: FixtureSeries[] = [
      { labels: { __name__: 'cpu', host: 'a' }, samples: special.map((value, i) => ({ timestamp: T0 + (special.length - i) * 1000, value })) },
      { labels: { host: 'b', __name__: 'cpu' }, samples: [{ timestamp: T0, value: 1 }, { timestamp: T0 - 5, value: 2 }] },
      // Timestamps at the edges: epoch, before it, the largest Date.
      { labels: { __name__: 'edge' }, samples: [0, -86_400_000, 8.64e15].map((timestamp, i) => ({ timestamp, value: i })) },
    ];
    const sink = await open();
    await sink.append(buildBatch(series, true));
    assertSameSeries(await sink.exportSeries(), expected(series));
    assert.deepEqual(await sink.stats(), { series: 3, samples: special.length + 5 });
    assert.equal(metrics.sentSamples, special.length + 5);
    assert.ok(metrics.sentBytes >= (special.length + 5) * 24);
    await sink.close();
  });

  it('reads a NaN payload (Prometheus staleness marker) back as NaN', async () => {
    const sink = await open();
    const batch = buildBatch([{ labels: { __name__: 'up' }, samples: [{ timestamp: T0, value: 0 }] }]);
    Buffer.from('020000000000f07f', 'hex').copy(batch.values!); // 0x7ff0000000000002 LE
    await sink.append(batch);
    const [s] = await sink.exportSeries();
    // The file keeps the exact bits; node-api's conversion to JS quiets the signaling NaN.
    assert.ok(Number.isNaN(s!.samples[0]!.value));
    await sink.close();
  });

  it('stores label values with unicode, quotes, backslashes and newlines exactly', async () => {
    const labels = { __name__: 'temp', room: 'Küche "Süd" 🌡', path: 'C:\\dir\\new', note: "it's\na\tb", empty: '' };
    const series: FixtureSeries[] = [
      { labels, samples: [{ timestamp: T0, value: 21.5 }] },
      { labels: { __name__: 'Temperatur_°C', 'weird key "x"': 'v' }, samples: [{ timestamp: T0, value: -3 }] },
    ];
    const sink = await open();
    await sink.append(buildBatch(series));
    assertSameSeries(await sink.exportSeries(), expected(series));
    const temp = await sink.exportSeries({ metric: 'temp' });
    assert.deepEqual(temp.map((s) => s.labels), [labels]);
    assert.deepEqual(await sink.exportSeries({ metric: 'Temperatur_°C' }).then((r) => r.length), 1);
    assert.deepEqual(await sink.exportSeries({ metric: 'nope' }), []);
    await sink.close();
  });

  it('keeps data across close and reopen, without duplicating known series', async () => {
    const first: FixtureSeries[] = [
      { labels: { __name__: 'm', k: '1' }, samples: [{ timestamp: T0, value: 1 }] },
      { labels: { __name__: 'm', k: '2' }, samples: [{ timestamp: T0, value: 2 }] },
    ];
    let sink = await open('custom.duckdb');
    await sink.append(buildBatch(first));
    await sink.close();

    sink = await open('custom.duckdb');
    assert.deepEqual(await sink.stats(), { series: 2, samples: 2 });
    // The same series again (their definitions repeated, as the core sends them), plus a new one.
    const second: FixtureSeries[] = [
      { labels: { __name__: 'm', k: '1' }, samples: [{ timestamp: T0 + 1, value: 10 }] },
      { labels: { __name__: 'm', k: '3' }, samples: [{ timestamp: T0 + 1, value: 30 }] },
    ];
    await sink.append(buildBatch(second));
    assert.deepEqual(await sink.stats(), { series: 3, samples: 4 });
    assertSameSeries(await sink.exportSeries(), expected([...first, ...second]));
    await sink.close();
  });

  it('creates the data directory when it is missing', async () => {
    const nested = path.join(dir, 'a', 'b');
    const sink = await EmbeddedStore.open({ dataDir: nested, metrics });
    assert.equal(sink.file, path.join(nested, 'sentio.duckdb'));
    assert.deepEqual(await sink.health(), { ok: true });
    await sink.close();
  });

  it('commits 50 concurrent batches sharing new series, and counts each', async () => {
    const sink = await open();
    const all: FixtureSeries[] = [];
    const batches = Array.from({ length: 50 }, (_, b) => {
      // Every batch defines shared series (new to the store) and one of its own.
      const series: FixtureSeries[] = [0, 1, 2, b + 3].map((k) => ({
        labels: { __name__: 'load', k: String(k) },
        samples: Array.from({ length: 100 + b }, (_, i) => ({ timestamp: T0 + b * 1000 + i, value: b * 1e6 + k * 1e3 + i })),
      }));
      all.push(...series);
      return buildBatch(series, true);
    });
    await Promise.all(batches.map((batch) => sink.append(batch)));
    const total = all.reduce((n, s) => n + s.samples.length, 0);
    assert.equal(metrics.sentCalls, 50);
    assert.equal(metrics.sentSamples, total);
    assert.deepEqual(metrics.failures, []);
    assert.deepEqual(await sink.stats(), { series: 53, samples: total });
    assertSameSeries(await sink.exportSeries({ metric: 'load' }), expected(all));
    await sink.close();
  });

  it('keeps duplicate samples as written', async () => {
    const sink = await open();
    const batch = buildBatch([{ labels: { __name__: 'd' }, samples: [{ timestamp: T0, value: 1 }] }]);
    await sink.append(batch);
    await sink.append(batch);
    const [s] = await sink.exportSeries();
    assert.deepEqual(s!.samples, [
      { timestamp: T0, value: 1 },
      { timestamp: T0, value: 1 },
    ]);
    await sink.close();
  });

  it('rejects a malformed batch alone, says why, and counts it', async () => {
    const sink = await open();
    const good = buildBatch([{ labels: { __name__: 'g' }, samples: [{ timestamp: T0, value: 1 }] }]);
    const short = { ...good, values: good.values!.subarray(0, 4) };
    const badDef = { ...buildBatch([{ labels: { __name__: 'x' }, samples: [{ timestamp: T0, value: 1 }] }]), seriesDefs: Buffer.from('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]') };
    badDef.seriesDefOffsets = Buffer.from([0, 0, 0, 0, 2, 0, 0, 0]);
    const badOffsets = { ...good, seriesDefOffsets: Buffer.from([0, 0, 0, 0, 255, 0, 0, 0]) };
    const results = await Promise.allSettled([sink.append(short), sink.append(good), sink.append(badDef), sink.append(badOffsets)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'rejected', 'rejected']);
    const messages = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : ''));
    assert.match(messages[0]!, /malformed batch: 1 samples need 8 bytes per column, got .*values 4/);
    assert.match(messages[2]!, /malformed batch: series 0: definition is not/);
    assert.match(messages[3]!, /malformed batch: series 0: definition offsets 0\.\.255 outside/);
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as SentioError).code : 'ok'));
    assert.deepEqual(codes, ['SENTIO_ERR_SINK_REJECTED', 'ok', 'SENTIO_ERR_SINK_REJECTED', 'SENTIO_ERR_SINK_REJECTED'], 'a bad batch is a 400, not a 503');
    assert.deepEqual(metrics.failures, ['malformed', 'malformed', 'malformed']);
    assert.equal(metrics.failedSamples, 3);
    assert.deepEqual(await sink.stats(), { series: 1, samples: 1 });
    await sink.close();
  });

  it('commits what is queued on close; close is idempotent; writes after close are refused', async () => {
    const sink = await open();
    const writes = Array.from({ length: 10 }, (_, i) =>
      sink.append(buildBatch([{ labels: { __name__: 'c', i: String(i) }, samples: [{ timestamp: T0 + i, value: i }] }])),
    );
    const closes = [sink.close(), sink.close()];
    await Promise.all([...writes, ...closes]);
    await sink.close();
    assert.equal(metrics.sentSamples, 10);
    assert.deepEqual(await sink.health(), { ok: false, detail: 'closed' });
    await assert.rejects(
      sink.append(buildBatch([{ labels: { __name__: 'c' }, samples: [{ timestamp: T0, value: 1 }] }])),
      /embedded: the store is closed, 1 samples not stored/,
    );
    assert.deepEqual(metrics.failures, ['closed']);
    await assert.rejects(sink.stats(), /closed/);

    const again = await open();
    assert.deepEqual(await again.stats(), { series: 10, samples: 10 });
    await again.close();
  });

  it('fails a whole group when its commit fails, stores none of it, and recovers', async () => {
    const sink = await open();
    const clash = { __name__: 'clash' };
    // A series row the sink does not know about (as if written behind its back):
    // appending the same id then violates the primary key.
    const reader = (sink as unknown as { reader: { run(sql: string, values: unknown[]): Promise<unknown> } }).reader;
    await reader.run(`INSERT INTO series VALUES ($1, 'clash', $2, 0)`, [seriesId(clash), canonicalJson(clash)]);
    const doomed = [
      sink.append(buildBatch([{ labels: clash, samples: [{ timestamp: T0, value: 1 }] }])),
      sink.append(buildBatch([{ labels: { __name__: 'bystander' }, samples: [{ timestamp: T0, value: 2 }] }])),
    ];
    const results = await Promise.allSettled(doomed);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.match((r as PromiseRejectedResult).reason.message, /embedded: commit of 2 batches \(2 samples\) to .*sentio\.duckdb failed: .*[Dd]uplicate key/);
    }
    assert.deepEqual(metrics.failures, ['commit', 'commit']);
    assert.equal((await sink.health()).ok, false);
    assert.deepEqual(await sink.stats(), { series: 1, samples: 0 });

    // The next group works, including the bystander series the failed group had seen first.
    await sink.append(buildBatch([{ labels: { __name__: 'bystander' }, samples: [{ timestamp: T0, value: 3 }] }]));
    assert.deepEqual(await sink.health(), { ok: true });
    assert.deepEqual(await sink.exportSeries({ metric: 'bystander' }), [{ labels: { __name__: 'bystander' }, samples: [{ timestamp: T0, value: 3 }] }]);
    await sink.close();
  });

  it('treats an empty batch as done without touching the file', async () => {
    const sink = await open();
    await sink.append(buildBatch([]));
    await sink.append(columnBatchOf({ encoding: 'columns', samples: 0 }));
    assert.deepEqual(await sink.stats(), { series: 0, samples: 0 });
    assert.equal(metrics.sentCalls, 0);
    await sink.close();
  });

  it('fails to open with a message naming the file', async () => {
    await assert.rejects(
      EmbeddedStore.open({ dataDir: path.join(dir, 'x'), file: path.join('no', 'such', 'dir', 'f.duckdb'), metrics }),
      /embedded: cannot open .*f\.duckdb/,
    );
  });
});
