// Test and bench helper: builds the native core's `columns` batch from
// plain objects, and a SinkMetrics that records what it is told.
import type { SinkMetrics } from '../sinks/types.js';
import type { ColumnBatch } from './index.js';

export interface FixtureSeries {
  labels: Record<string, string>;
  samples: Array<{ timestamp: number; value: number }>;
}

/** Canonical label set as the core writes it: `__name__` first, then the other names sorted. */
export function canonicalJson(labels: Record<string, string>): string {
  const names = Object.keys(labels)
    .filter((n) => n !== '__name__')
    .sort();
  const ordered: Record<string, string> = {};
  if ('__name__' in labels) ordered['__name__'] = labels['__name__']!;
  for (const n of names) ordered[n] = labels[n]!;
  return JSON.stringify(ordered);
}

/** FNV-1a 64 of the canonical JSON, as i64: any stable 64-bit hash will do, the store must not care. */
export function seriesId(labels: Record<string, string>): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(canonicalJson(labels))) {
    h = BigInt.asUintN(64, (h ^ BigInt(byte)) * 0x100000001b3n);
  }
  return BigInt.asIntN(64, h);
}

/**
 * One batch holding every sample of `series`. With `interleave`, samples of
 * different series alternate (as they do in real line protocol) instead of
 * coming series by series.
 */
export function buildBatch(series: FixtureSeries[], interleave = false): ColumnBatch {
  const rows: Array<{ id: bigint; timestamp: number; value: number }> = [];
  const distinct = new Map<bigint, string>();
  const perSeries = series.map((s) => {
    const id = seriesId(s.labels);
    if (!distinct.has(id)) distinct.set(id, canonicalJson(s.labels));
    return s.samples.map((p) => ({ id, ...p }));
  });
  if (interleave) {
    const longest = Math.max(0, ...perSeries.map((p) => p.length));
    for (let i = 0; i < longest; i++) for (const p of perSeries) if (i < p.length) rows.push(p[i]!);
  } else {
    for (const p of perSeries) rows.push(...p);
  }
  const n = rows.length;
  const seriesIds = Buffer.alloc(n * 8);
  const timestamps = Buffer.alloc(n * 8);
  const values = Buffer.alloc(n * 8);
  rows.forEach((r, i) => {
    seriesIds.writeBigInt64LE(r.id, i * 8);
    timestamps.writeBigInt64LE(BigInt(r.timestamp), i * 8);
    values.writeDoubleLE(r.value, i * 8);
  });
  const distinctIds = Buffer.alloc(distinct.size * 8);
  const seriesDefOffsets = Buffer.alloc((distinct.size + 1) * 4);
  const defs: Buffer[] = [];
  let offset = 0;
  [...distinct].forEach(([id, json], i) => {
    distinctIds.writeBigInt64LE(id, i * 8);
    seriesDefOffsets.writeUInt32LE(offset, i * 4);
    const bytes = Buffer.from(json);
    defs.push(bytes);
    offset += bytes.length;
  });
  seriesDefOffsets.writeUInt32LE(offset, distinct.size * 4);
  return {
    samples: n,
    seriesIds,
    timestamps,
    values,
    distinctIds,
    seriesDefs: Buffer.concat(defs),
    seriesDefOffsets,
  };
}

export interface RecordedMetrics extends SinkMetrics {
  sentSamples: number;
  sentBytes: number;
  sentCalls: number;
  failedSamples: number;
  failures: string[];
}

export function recordingMetrics(): RecordedMetrics {
  const m: RecordedMetrics = {
    sentSamples: 0,
    sentBytes: 0,
    sentCalls: 0,
    failedSamples: 0,
    failures: [],
    sent(shard, samples, bytes) {
      if (shard !== 'embedded') throw new Error(`unexpected shard ${shard}`);
      m.sentSamples += samples;
      m.sentBytes += bytes;
      m.sentCalls++;
    },
    failed(shard, samples, reason) {
      if (shard !== 'embedded') throw new Error(`unexpected shard ${shard}`);
      m.failedSamples += samples;
      m.failures.push(reason);
    },
    retried() {},
  };
  return m;
}
