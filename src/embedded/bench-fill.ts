// Which way of filling a DuckDBDataChunk from little-endian column buffers is
// fastest? Fills 2,048-row chunks of (BIGINT, BIGINT, DOUBLE) from Buffers and
// appends them to an in-memory table, three ways:
//   setColumns    Array.from(typed array views) → chunk.setColumns
//   setItem       per-vector setItem from BigInt64Array/Float64Array + flush
//   memcpy        copy_data_to_vector straight from the Buffer (what index.ts uses)
// Run: node --import tsx src/embedded/bench-fill.ts [rows]
import { BIGINT, DOUBLE, DuckDBDataChunk, DuckDBInstance, type DuckDBAppender } from '@duckdb/node-api';
import { rawBindings } from './index.js';

const ROWS = Number(process.argv[2] ?? 4_000_000);
const CHUNK = 2048;

function makeColumns(rows: number): { ids: Buffer; ts: Buffer; values: Buffer } {
  const ids = Buffer.alloc(rows * 8);
  const ts = Buffer.alloc(rows * 8);
  const values = Buffer.alloc(rows * 8);
  for (let i = 0; i < rows; i++) {
    ids.writeBigInt64LE(BigInt.asIntN(64, BigInt(i % 1000) * 0x9e3779b97f4a7c15n), i * 8);
    ts.writeBigInt64LE(BigInt(1_700_000_000_000 + i), i * 8);
    values.writeDoubleLE(i * 0.25 - 100, i * 8);
  }
  return { ids, ts, values };
}

type Fill = (chunk: DuckDBDataChunk, cols: { ids: Buffer; ts: Buffer; values: Buffer }, start: number, n: number) => void;

const i64 = (b: Buffer, start: number, n: number) => new BigInt64Array(b.buffer, b.byteOffset + start * 8, n);
const f64 = (b: Buffer, start: number, n: number) => new Float64Array(b.buffer, b.byteOffset + start * 8, n);

const fills: Record<string, Fill> = {
  setColumns(chunk, c, start, n) {
    chunk.setColumns([Array.from(i64(c.ids, start, n)), Array.from(i64(c.ts, start, n)), Array.from(f64(c.values, start, n))]);
  },
  setItem(chunk, c, start, n) {
    chunk.rowCount = n;
    const a = i64(c.ids, start, n);
    const t = i64(c.ts, start, n);
    const v = f64(c.values, start, n);
    const va = chunk.getColumnVector(0);
    const vt = chunk.getColumnVector(1);
    const vv = chunk.getColumnVector(2);
    for (let i = 0; i < n; i++) {
      va.setItem(i, a[i]!);
      vt.setItem(i, t[i]!);
      vv.setItem(i, v[i]!);
    }
    va.flush();
    vt.flush();
    vv.flush();
  },
  memcpy(chunk, c, start, n) {
    chunk.rowCount = n;
    const b = rawBindings();
    b.copy_data_to_vector(b.data_chunk_get_vector(chunk.chunk, 0), 0, c.ids.buffer, c.ids.byteOffset + start * 8, n * 8);
    b.copy_data_to_vector(b.data_chunk_get_vector(chunk.chunk, 1), 0, c.ts.buffer, c.ts.byteOffset + start * 8, n * 8);
    b.copy_data_to_vector(b.data_chunk_get_vector(chunk.chunk, 2), 0, c.values.buffer, c.values.byteOffset + start * 8, n * 8);
  },
};

async function run(name: string, fill: Fill, cols: { ids: Buffer; ts: Buffer; values: Buffer }, appender: DuckDBAppender | null): Promise<number> {
  const chunk = DuckDBDataChunk.create([BIGINT, BIGINT, DOUBLE]);
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < ROWS; start += CHUNK) {
    const n = Math.min(CHUNK, ROWS - start);
    chunk.reset();
    fill(chunk, cols, start, n);
    appender?.appendDataChunk(chunk);
  }
  appender?.flushSync();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = ROWS / s;
  console.log(`${name.padEnd(10)} ${appender ? 'fill+append' : 'fill only  '} ${(rate / 1e6).toFixed(2)} M rows/s`);
  return rate;
}

const cols = makeColumns(ROWS);
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
await conn.run('CREATE TABLE t(series_id BIGINT, ts BIGINT, value DOUBLE)');
const appender = await conn.createAppender('t');
for (const [name, fill] of Object.entries(fills)) {
  await run(name, fill, cols, null);
  await run(name, fill, cols, appender);
}
// All three must have stored the same rows.
const r = await conn.runAndReadAll('SELECT count(*), count(DISTINCT (series_id, ts, value)) FROM t');
console.log('rows stored', r.getRowsJS()[0]);
appender.closeSync();
conn.closeSync();
instance.closeSync();
