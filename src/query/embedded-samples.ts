// Reads the samples of a query from the embedded DuckDB store into typed
// arrays, one SeriesSamples per series: times ascending, duplicate
// timestamps removed (the last written sample wins, by rowid, as the store
// documents).
//
// Why not rows through EmbeddedStore.read: converting 400,000 rows to JS
// values costs ~450 ms (getRowsJS) or ~80 ms (getColumnsJS) here, while
// copying the result vectors' bytes costs ~20 ms in all, scan included. So
// DuckDB only filters (series ids by a hash join, time by the zone maps) and
// the bytes of each result chunk are copied into Float64Arrays; no ORDER BY
// (sorting in DuckDB cost more than the whole rest). Order is restored here:
// rows are bucketed per series (a stable counting sort), and a series whose
// rows are not already in (ts, rowid) order, which for telemetry written in
// time order is rare, is sorted by index. The caller passes a connection of
// its own (EmbeddedStore.connectReader).

import { listValue, type DuckDBConnection } from '@duckdb/node-api';
import { rawBindings } from '../embedded/index.js';
import type { SeriesSamples } from './rollup.js';

interface ChunkBindings {
  data_chunk_get_vector(chunk: unknown, columnIndex: number): unknown;
  vector_get_data(vector: unknown, byteCount: number): Uint8Array;
}

/** One result vector's values as a typed array (a view on the chunk's memory when aligned). */
function column<T extends Float64Array | Int32Array>(b: ChunkBindings, chunk: unknown, index: number, rows: number, type: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number }): T {
  const bytes = b.vector_get_data(b.data_chunk_get_vector(chunk, index), rows * type.BYTES_PER_ELEMENT);
  if (bytes.byteOffset % type.BYTES_PER_ELEMENT === 0) return new type(bytes.buffer, bytes.byteOffset, rows);
  return new type(bytes.slice().buffer, 0, rows);
}

export interface Chunk {
  sid: Int32Array;
  ts: Float64Array;
  row: Float64Array;
  val: Float64Array;
}

/** Grows to the largest result seen; reused by every query (only used synchronously). */
class Scratch {
  ts = new Float64Array(0);
  row = new Float64Array(0);
  val = new Float64Array(0);

  reserve(n: number): void {
    if (this.ts.length >= n) return;
    const size = Math.max(n, this.ts.length * 2);
    this.ts = new Float64Array(size);
    this.row = new Float64Array(size);
    this.val = new Float64Array(size);
  }
}

const scratch = new Scratch();
const mergeScratch = new Scratch();

/**
 * Reads the samples of series `ids` with ts in [fromMs, toMs] and calls
 * `visit(i, samples)` for each series (i indexes `ids`; series without
 * samples are skipped), times as offsets from fromMs. The arrays are reused
 * after `visit` returns: copy what must outlive the call.
 */
export async function readSamples(conn: DuckDBConnection, ids: bigint[], fromMs: number, toMs: number, visit: (i: number, samples: SeriesSamples) => void): Promise<void> {
  const result = await conn.run(
    `SELECT sel.i, (x.ts - $3)::DOUBLE, x.rowid::DOUBLE, x.value
     FROM samples x JOIN (SELECT unnest($1::BIGINT[]) AS sid, unnest($2::INTEGER[]) AS i) sel ON x.series_id = sel.sid
     WHERE x.ts BETWEEN $3 AND $4`,
    [listValue(ids), listValue(ids.map((_, i) => i)), BigInt(fromMs), BigInt(toMs)],
  );
  // From here on synchronous: the chunks' memory and the scratch arrays stay ours.
  const b = rawBindings() as unknown as ChunkBindings;
  const chunks: Chunk[] = [];
  for (let c = 0; c < result.chunkCount; c++) {
    const raw = result.getChunk(c);
    const rows = raw.rowCount;
    if (rows === 0) continue;
    chunks.push({
      sid: column(b, raw.chunk, 0, rows, Int32Array),
      ts: column(b, raw.chunk, 1, rows, Float64Array),
      row: column(b, raw.chunk, 2, rows, Float64Array),
      val: column(b, raw.chunk, 3, rows, Float64Array),
    });
  }
  groupSeries(ids.length, chunks, visit);
}

/**
 * Rows (series index, ts, rowid, value) in any order → per series, by (ts,
 * rowid), the last of equal ts kept. A stable counting sort by series, then
 * each series sorted by a natural merge sort (linear when it is in order or
 * made of a few ordered runs, as DuckDB's parallel scan returns it).
 */
export function groupSeries(seriesCount: number, chunks: Chunk[], visit: (i: number, samples: SeriesSamples) => void): void {
  const start = new Int32Array(seriesCount + 1);
  let total = 0;
  for (const c of chunks) {
    const sid = c.sid;
    for (let i = 0; i < sid.length; i++) start[sid[i]! + 1]!++;
    total += sid.length;
  }
  for (let s = 0; s < seriesCount; s++) start[s + 1]! += start[s]!;
  const at = start.slice(0, seriesCount);
  scratch.reserve(total);
  const { ts, row, val } = scratch;
  for (const c of chunks) {
    const { sid, ts: cts, row: crow, val: cval } = c;
    for (let i = 0; i < sid.length; i++) {
      const k = at[sid[i]!]!++;
      ts[k] = cts[i]!;
      row[k] = crow[i]!;
      val[k] = cval[i]!;
    }
  }
  for (let s = 0; s < seriesCount; s++) {
    const from = start[s]!;
    const to = start[s + 1]!;
    if (from === to) continue;
    sortRange(ts, row, val, from, to);
    // Equal times: the later row (the last written) overwrites.
    let n = from;
    for (let k = from; k < to; k++) {
      if (n > from && ts[n - 1] === ts[k]) n--;
      ts[n] = ts[k]!;
      val[n] = val[k]!;
      n++;
    }
    visit(s, { ts: ts.subarray(from, n), values: val.subarray(from, n), n: n - from });
  }
}

/** Whether row a sorts before row b: by ts, then rowid (never equal). */
function before(ts: Float64Array, row: Float64Array, a: number, b: number): boolean {
  return ts[a]! < ts[b]! || (ts[a] === ts[b] && row[a]! < row[b]!);
}

/** The first index in [lo, hi) whose row sorts after row `x` (rows [lo, hi) in order). */
function firstAfter(ts: Float64Array, row: Float64Array, x: number, lo: number, hi: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (before(ts, row, x, m)) hi = m;
    else lo = m + 1;
  }
  return lo;
}

/**
 * Sorts rows [from, to) of the three columns by (ts, rowid): ordered runs
 * found, then merged pairwise. Each merge only touches the part where the
 * two runs overlap (found by binary search): DuckDB's parallel scan returns
 * a series as a few long runs that overlap over a chunk or two.
 */
function sortRange(ts: Float64Array, row: Float64Array, val: Float64Array, from: number, to: number): void {
  const runs = [from];
  for (let k = from + 1; k < to; k++) if (before(ts, row, k, k - 1)) runs.push(k);
  if (runs.length === 1) return;
  runs.push(to);
  mergeScratch.reserve(to - from);
  const tmp = mergeScratch;
  while (runs.length > 2) {
    const merged = [from];
    for (let r = 0; r + 2 < runs.length; r += 2) {
      const mid = runs[r + 1]!;
      const hi = runs[r + 2]!;
      // Rows before `lo` in the left run and from `end` on in the right run are already in place.
      const lo = firstAfter(ts, row, mid, runs[r]!, mid);
      const end = firstAfter(ts, row, mid - 1, mid, hi);
      let i = lo;
      let j = mid;
      let o = 0;
      while (i < mid && j < end) {
        const k = before(ts, row, j, i) ? j++ : i++;
        tmp.ts[o] = ts[k]!;
        tmp.row[o] = row[k]!;
        tmp.val[o] = val[k]!;
        o++;
      }
      for (; i < mid; i++, o++) [tmp.ts[o], tmp.row[o], tmp.val[o]] = [ts[i]!, row[i]!, val[i]!];
      for (; j < end; j++, o++) [tmp.ts[o], tmp.row[o], tmp.val[o]] = [ts[j]!, row[j]!, val[j]!];
      ts.set(tmp.ts.subarray(0, o), lo);
      row.set(tmp.row.subarray(0, o), lo);
      val.set(tmp.val.subarray(0, o), lo);
      merged.push(hi);
    }
    // An odd run out stays as it is.
    if (merged[merged.length - 1] !== to) merged.push(to);
    runs.splice(0, runs.length, ...merged);
  }
}
