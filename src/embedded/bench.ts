// Rows/s appended by EmbeddedStore to a DuckDB file in a temp dir: 1,000
// batches of 4,000 samples (400 series x 10 timestamps each, out of 10,000
// series, so early batches also create series), written one at a time and
// with several batches in flight (group commit). Batches are built before the
// clock starts. bench/ may import runEmbeddedBench.
// Run: node --import tsx src/embedded/bench.ts [batches] [samplesPerBatch]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EmbeddedStore, type ColumnBatch } from './index.js';
import { canonicalJson, recordingMetrics, seriesId } from './fixture.js';

export interface EmbeddedBenchOptions {
  batches?: number;
  samplesPerBatch?: number;
  /** Batches in flight at once (1: each write awaited before the next). */
  concurrency?: number;
  seriesPool?: number;
}

export interface EmbeddedBenchResult {
  rows: number;
  seconds: number;
  rowsPerSec: number;
}

const SERIES_PER_BATCH = 400;

function makeBatches(count: number, samplesPerBatch: number, pool: number): ColumnBatch[] {
  const ids: bigint[] = [];
  const defs: Buffer[] = [];
  for (let s = 0; s < pool; s++) {
    const labels = { __name__: `metric_${s % 20}`, host: `dev-${String(s).padStart(5, '0')}`, region: `r${s % 7}` };
    ids.push(seriesId(labels));
    defs.push(Buffer.from(canonicalJson(labels)));
  }
  const perSeries = Math.ceil(samplesPerBatch / SERIES_PER_BATCH);
  const t0 = Date.now();
  return Array.from({ length: count }, (_, b) => {
    const first = (b * SERIES_PER_BATCH) % pool;
    const members = Array.from({ length: SERIES_PER_BATCH }, (_, k) => (first + k) % pool);
    const seriesIds = Buffer.alloc(samplesPerBatch * 8);
    const timestamps = Buffer.alloc(samplesPerBatch * 8);
    const values = Buffer.alloc(samplesPerBatch * 8);
    for (let i = 0; i < samplesPerBatch; i++) {
      const s = members[i % SERIES_PER_BATCH]!;
      seriesIds.writeBigInt64LE(ids[s]!, i * 8);
      timestamps.writeBigInt64LE(BigInt(t0 + b * perSeries * 1000 + Math.floor(i / SERIES_PER_BATCH) * 1000), i * 8);
      values.writeDoubleLE(Math.sin(i + b) * 100, i * 8);
    }
    const used = samplesPerBatch >= SERIES_PER_BATCH ? members : members.slice(0, samplesPerBatch);
    const distinctIds = Buffer.alloc(used.length * 8);
    const seriesDefOffsets = Buffer.alloc((used.length + 1) * 4);
    let offset = 0;
    used.forEach((s, k) => {
      distinctIds.writeBigInt64LE(ids[s]!, k * 8);
      seriesDefOffsets.writeUInt32LE(offset, k * 4);
      offset += defs[s]!.length;
    });
    seriesDefOffsets.writeUInt32LE(offset, used.length * 4);
    const seriesDefs = Buffer.concat(used.map((s) => defs[s]!));
    return { samples: samplesPerBatch, seriesIds, timestamps, values, distinctIds, seriesDefs, seriesDefOffsets };
  });
}

export async function runEmbeddedBench(opts: EmbeddedBenchOptions = {}): Promise<EmbeddedBenchResult> {
  const count = opts.batches ?? 1000;
  const samplesPerBatch = opts.samplesPerBatch ?? 4000;
  const concurrency = opts.concurrency ?? 1;
  const batches = makeBatches(count, samplesPerBatch, opts.seriesPool ?? 10_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sentio-embedded-bench-'));
  const metrics = recordingMetrics();
  try {
    const sink = await EmbeddedStore.open({ dataDir: dir, metrics });
    const start = process.hrtime.bigint();
    let next = 0;
    async function worker(): Promise<void> {
      while (next < batches.length) await sink.append(batches[next++]!);
    }
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const { samples } = await sink.stats();
    await sink.close();
    const rows = count * samplesPerBatch;
    if (samples !== rows || metrics.sentSamples !== rows) {
      throw new Error(`bench stored ${samples} rows and counted ${metrics.sentSamples}, expected ${rows}`);
    }
    return { rows, seconds, rowsPerSec: rows / seconds };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const batches = Number(process.argv[2] ?? 1000);
  const samplesPerBatch = Number(process.argv[3] ?? 4000);
  for (const concurrency of [1, 8, 64]) {
    const r = await runEmbeddedBench({ batches, samplesPerBatch, concurrency });
    console.log(
      `embedded  ${batches} x ${samplesPerBatch}  in flight ${String(concurrency).padStart(2)}  ${(r.rowsPerSec / 1e6).toFixed(2)} M rows/s  (${r.seconds.toFixed(2)} s)`,
    );
  }
}
