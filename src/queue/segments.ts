// On-disk layout of one shard's queue, and reading it back.
//
//   <dir>/00000000000000000001.seg   segment files, ids increasing
//   <dir>/cursor                     where delivery stands
//
// A segment is a sequence of records, each a 24-byte header (magic "SQR1",
// CRC32C, payload length, samples, enqueue time) and the payload; the
// native core frames and scans them (native/core/src/queue.rs). The cursor
// is 24 bytes: magic "SQC1", CRC32C of the next 16, segment id (u64 LE),
// offset (u64 LE) of the first record not yet delivered. It is rewritten in
// place after deliveries without an fsync: a killed process loses nothing
// (the page cache keeps the write), an OS crash can leave an older cursor,
// and then a few delivered batches are sent again (at-least-once).

import { join } from 'node:path';
import { native } from '../native/index.js';
import type { QueueFs } from './files.js';

export const RECORD_HEADER_BYTES = 24;
/** Larger lengths in a record header are damage, not data. */
export const MAX_RECORD_BYTES = 2 ** 30;

const CURSOR_MAGIC = Buffer.from('SQC1');
const SEGMENT_NAME = /^(\d{20})\.seg$/;

export function segmentName(id: number): string {
  return `${String(id).padStart(20, '0')}.seg`;
}

export interface Cursor {
  segment: number;
  offset: number;
}

export function encodeCursor(c: Cursor): Buffer {
  const b = Buffer.alloc(24);
  CURSOR_MAGIC.copy(b, 0);
  b.writeBigUInt64LE(BigInt(c.segment), 8);
  b.writeBigUInt64LE(BigInt(c.offset), 16);
  b.writeUInt32LE(native.crc32c(b.subarray(8)), 4);
  return b;
}

/** The cursor in `b`, or undefined when it is missing or damaged (then everything on disk is delivered again). */
export function decodeCursor(b: Buffer | undefined): Cursor | undefined {
  if (b === undefined || b.byteLength < 24 || !b.subarray(0, 4).equals(CURSOR_MAGIC)) return undefined;
  if (native.crc32c(b.subarray(8, 24)) !== b.readUInt32LE(4)) return undefined;
  return { segment: Number(b.readBigUInt64LE(8)), offset: Number(b.readBigUInt64LE(16)) };
}

export interface RecoveredRecord {
  segment: number;
  offset: number;
  payloadLength: number;
  samples: number;
  enqueuedMs: number;
}

export interface RecoveredSegment {
  id: number;
  path: string;
  size: number;
  /** Records still to deliver (at or after the cursor). */
  records: RecoveredRecord[];
  /** Intact records before the cursor (already delivered). */
  delivered: number;
  damage: Array<{ offset: number; length: number; reason: string }>;
}

export interface RecoveredShard {
  dir: string;
  cursor: Cursor | undefined;
  /** Segments wholly before the cursor: delivered, to be removed. */
  stale: string[];
  segments: RecoveredSegment[];
}

/** Reads a shard's queue directory: cursor, segments and their records and damage. Changes nothing. */
export async function readShard(fs: QueueFs, dir: string): Promise<RecoveredShard> {
  const cursor = decodeCursor(await fs.readOptional(join(dir, 'cursor')));
  const ids = (await fs.list(dir))
    .map((n) => SEGMENT_NAME.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  const out: RecoveredShard = { dir, cursor, stale: [], segments: [] };
  for (const id of ids) {
    const path = join(dir, segmentName(id));
    if (cursor && id < cursor.segment) {
      out.stale.push(path);
      continue;
    }
    const content = await fs.readAll(path);
    const scan = native.queueScan(content, MAX_RECORD_BYTES);
    const from = cursor && id === cursor.segment ? cursor.offset : 0;
    const records = scan.records
      .filter((r) => r.offset >= from)
      .map((r) => ({ segment: id, offset: r.offset, payloadLength: r.payloadLength, samples: r.samples, enqueuedMs: r.enqueuedMs }));
    out.segments.push({ id, path, size: content.byteLength, records, delivered: scan.records.length - records.length, damage: scan.damage });
  }
  return out;
}
