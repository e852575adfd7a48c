// Durable per-sink queue: what Sentio acknowledges is on disk first, then
// delivered to the sink, in order per shard, for as long as it takes.
//
// - One directory per shard (src/queue/segments.ts has the layout). Batches
//   are appended as CRC-framed records to the shard's active segment; a
//   segment is closed at `segmentBytes` and removed once all its records
//   are delivered.
// - Acknowledgement: `append` resolves when the batch is durable by the
//   fsync policy. 'batch': after an fsync that began after the batch was
//   written (concurrent batches share one fsync: group commit). 'interval':
//   after write(), with an fsync every `fsyncIntervalMs` (a killed process
//   loses nothing; a power cut can lose that much).
// - Bounded by `maxBytes` of segment files per sink. When a batch does not
//   fit: 'refuse' throws SENTIO_ERR_QUEUE_FULL (clients back off);
//   'drop-oldest' removes the oldest whole segments, counting every dropped
//   batch and sample. A failed write or fsync (disk full, I/O error) throws
//   SENTIO_ERR_QUEUE_UNAVAILABLE and new batches are refused for a second,
//   then tried again: nothing is acknowledged that was not stored.
// - Writes: the records appended to a segment in one turn of the event loop
//   are written with one positional writev (and, by the fsync policy, share
//   one fsync): a fleet of small batches costs a write per turn, not per batch.
// - Delivery: each shard dispatches its records in queue order, up to
//   `concurrency` at a time; the cursor advances over the delivered prefix.
//   Consecutive small records go as one request when the sender can merge
//   them (up to MERGE_MAX_BYTES and MERGE_MAX_RECORDS; remote write: one
//   WriteRequest of all their series); a small group at the tail of the
//   queue waits up to MERGE_LINGER_MS for more while another delivery is in
//   flight. A merged request the sink rejects for good is retried record by
//   record, so only the bad one is dropped.
//   A sink that is unavailable pauses that shard with exponential backoff
//   (other shards and sinks go on); a batch the sink rejects for good (4xx)
//   is dropped and counted. Delivery is at-least-once: after a crash, up to
//   the batches in flight (and, after an OS crash, those since the last
//   cursor write) are sent again.
// - Start-up replays what is on disk. Damaged regions (torn tail, bit rot)
//   are skipped, counted and logged with file and offset; every intact
//   record around them is delivered. New records always go to a new segment.

import { join } from 'node:path';
import type { QueueConfig } from '../config/index.js';
import { SentioError } from '../errors.js';
import type { Logger } from '../log/index.js';
import { native } from '../native/index.js';
import { type QueueFile, type QueueFs, nodeQueueFs } from './files.js';
import { type Cursor, RECORD_HEADER_BYTES, encodeCursor, readShard, segmentName } from './segments.js';
import { TurnDeferral } from '../turn.js';

export interface ShardSender {
  /**
   * Delivers one payload to `shard`. Rejects with SENTIO_ERR_SINK_REJECTED
   * when the sink refuses it for good; any other rejection means "not now".
   * `merged`: the payload is several batches (merge); refused for good, they
   * are sent again one by one, so the refusal is not yet a loss to count.
   */
  send(shard: number, payload: Buffer, samples: number, merged?: boolean): Promise<void>;
  /**
   * One payload carrying all of `payloads` (consecutive batches of a shard),
   * so that many small batches go as one request. Absent: each batch is sent
   * alone. Throws when they cannot be merged (they are then sent alone).
   */
  merge?(payloads: Buffer[]): Buffer;
  /**
   * Gives up on the deliveries in flight (their promises reject soon, the
   * batches stay queued) and retries no more: the queue is closing.
   */
  abort?(): void;
}

export interface QueueMetrics {
  appended(shard: number, bytes: number, samples: number): void;
  /** A batch was delivered, `ageSeconds` after it was appended. */
  delivered(shard: number, samples: number, ageSeconds: number): void;
  /** Batches that will never be delivered: 'full' (drop-oldest), 'rejected' (4xx), 'unreadable' (read error). */
  dropped(shard: number, reason: 'full' | 'rejected' | 'unreadable', batches: number, samples: number): void;
  /** Damaged bytes skipped while replaying. */
  damaged(shard: number, bytes: number): void;
}

export interface QueueOptions extends QueueConfig {
  /** Directory of this sink's queue; one sub-directory per shard. */
  dir: string;
  shards: number;
  /** Deliveries in flight per shard. */
  concurrency: number;
  /** First delay after a failed delivery; doubles per failure, with jitter, up to 30 s. */
  retryBaseMs: number;
  sender: ShardSender;
  metrics: QueueMetrics;
  log: Logger;
  fs?: QueueFs;
}

export interface ShardStats {
  shard: number;
  /** Batches not yet delivered. */
  records: number;
  samples: number;
  /** Bytes of segment files on disk. */
  bytes: number;
  /** Enqueue time of the oldest batch not yet delivered (Unix ms), or undefined. */
  oldestMs: number | undefined;
}

const MAX_BACKOFF_MS = 30_000;
/** After a failed write, new batches are refused this long before the disk is tried again. */
const WRITE_FAILURE_PAUSE_MS = 1000;

type RecState = 'writing' | 'queued' | 'sending' | 'done';

interface Segment {
  id: number;
  path: string;
  /** Settles when the file is open (and its directory entry durable). */
  ready: Promise<void>;
  file: QueueFile | undefined;
  /** Bytes reserved (written or being written). */
  size: number;
  /** Records in it not yet released (delivered or dropped). */
  live: number;
  sealed: boolean;
  /** Written since the last fsync (interval policy). */
  dirty: boolean;
  sync: SyncGroup | undefined;
}

interface Rec {
  segment: Segment;
  offset: number;
  payloadLength: number;
  samples: number;
  enqueuedMs: number;
  state: RecState;
  /** The payload, while it is kept in memory. */
  payload: Buffer | undefined;
  /** Sent by itself, not merged (after a merged request was rejected for good). */
  alone: boolean;
}

/** Records merged into one request: at most this many payload bytes, and this many records. */
const MERGE_MAX_BYTES = 256 * 1024;
const MERGE_MAX_RECORDS = 512;
/**
 * A record this large is sent as it is: merging re-encodes every byte (the
 * VictoriaMetrics sender decompresses and compresses again), which costs more
 * than the requests it saves. A 1,000-line body (4,000 samples) is about
 * 36 KiB; merging eight of them took 0.056 CPU-s per M samples, a tenth of
 * the main thread's time in a CPU profile under the HTTP bench (bench/RESULTS.md).
 */
const MERGE_RECORD_MAX_BYTES = 16 * 1024;
/** How long a small group at the tail waits for more while a delivery is in flight. */
const MERGE_LINGER_MS = 10;
/** Buffers of one coalesced write (two per record; below IOV_MAX). */
const WRITE_MAX_BUFFERS = 512;

/** Records of one segment appended in the same turn, written together. */
interface PendingWrite {
  seg: Segment;
  /** Offset of the first record; `end`: just past the last. */
  start: number;
  end: number;
  chunks: Buffer[];
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Group commit: `request()` resolves after an fsync that started after the call. */
class SyncGroup {
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private running = false;

  constructor(private readonly file: QueueFile) {}

  request(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.running) this.run();
    });
  }

  private run(): void {
    const batch = this.waiters;
    this.waiters = [];
    this.running = true;
    this.file.sync().then(
      () => batch.forEach((w) => w.resolve()),
      (e: unknown) => batch.forEach((w) => w.reject(e)),
    ).finally(() => {
      this.running = false;
      if (this.waiters.length > 0) this.run();
    });
  }
}

function jitteredBackoff(base: number, attempt: number): number {
  const cap = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.min(attempt, 30));
  return cap / 2 + Math.random() * (cap / 2);
}

class ShardQueue {
  private readonly segments = new Map<number, Segment>();
  private active: Segment | undefined;
  private nextId = 1;
  private readonly pending: Rec[] = [];
  private head = 0;
  /** Where pump starts looking for queued records: those before it (from head) are being sent or done. */
  private scan = 0;
  private inflight = 0;
  private readonly inflightDone = new Set<Promise<void>>();
  private attempt = 0;
  private pausedUntil = 0;
  /** After a failed delivery: one at a time, from the oldest, until one succeeds (keeps queue order). */
  private probing = false;
  /** Resolves when the latest dispatched delivery has issued its request. */
  private lastIssued: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Closing: nothing lingers, deliver what there is. */
  draining = false;
  private stopped = false;
  private cursorFile: QueueFile | undefined;
  /** The cursor write in progress, if any. */
  private cursorWriting: Promise<void> | undefined;
  private cursorDirty = false;
  private drainWaiters: Array<() => void> = [];

  constructor(
    readonly shard: number,
    private readonly dir: string,
    private readonly owner: DurableQueue,
    private readonly o: QueueOptions,
    private readonly fs: QueueFs,
  ) {}

  /** Replays what is on disk. */
  async open(): Promise<{ records: number; damaged: number }> {
    await this.fs.mkdirp(this.dir);
    const found = await readShard(this.fs, this.dir);
    for (const path of found.stale) await this.fs.remove(path);
    let damaged = 0;
    for (const s of found.segments) {
      this.nextId = Math.max(this.nextId, s.id + 1);
      for (const d of s.damage) {
        damaged += d.length;
        this.o.log.warn(`queue ${s.path}: ${d.length} damaged bytes skipped at offset ${d.offset}: ${d.reason}`);
      }
      if (s.records.length === 0) {
        // Nothing left to deliver in it.
        await this.fs.remove(s.path);
        continue;
      }
      const file = await this.fs.open(s.path);
      const seg: Segment = { id: s.id, path: s.path, ready: Promise.resolve(), file, size: s.size, live: 0, sealed: true, dirty: false, sync: undefined };
      this.segments.set(seg.id, seg);
      this.owner.diskBytes += seg.size;
      for (const r of s.records) {
        seg.live++;
        this.pending.push({ segment: seg, offset: r.offset, payloadLength: r.payloadLength, samples: r.samples, enqueuedMs: r.enqueuedMs, state: 'queued', payload: undefined, alone: false });
      }
    }
    if (damaged > 0) this.o.metrics.damaged(this.shard, damaged);
    this.cursorFile = await this.fs.open(join(this.dir, 'cursor'));
    this.pump();
    return { records: this.pending.length, damaged };
  }

  /** Appends one payload; resolves once it is durable by the fsync policy. */
  async append(payload: Buffer, samples: number, enqueuedMs: number): Promise<void> {
    const length = RECORD_HEADER_BYTES + payload.byteLength;
    // Space is reserved before the first await, so records keep their order.
    const seg = this.segmentFor(length);
    const rec: Rec = { segment: seg, offset: seg.size, payloadLength: payload.byteLength, samples, enqueuedMs, state: 'writing', payload: undefined, alone: false };
    seg.size += length;
    seg.live++;
    this.owner.diskBytes += length;
    this.pending.push(rec);
    const header = native.queueRecordHeader(payload, samples, enqueuedMs);
    try {
      await this.write(seg, rec.offset, header, payload);
      if (this.o.fsync === 'batch') await seg.sync!.request();
      else seg.dirty = true;
    } catch (err) {
      // Not stored: never delivered, never acknowledged. The segment may hold a
      // partial record now; new records go to a fresh one.
      rec.state = 'done';
      seg.sealed = true;
      if (this.active === seg) this.active = undefined;
      this.release();
      throw err;
    }
    if (this.owner.reserveMemory(payload.byteLength)) rec.payload = payload;
    rec.state = 'queued';
    this.o.metrics.appended(this.shard, length, samples);
    this.pump();
  }

  private pendingWrite: PendingWrite | undefined;
  /** Ends the pending write (src/turn.ts: at the end of the turn, or after TURN_MAX_AGE_MS). */
  private readonly turnEnd = new TurnDeferral(() => this.flushWrite());

  /** Writes a record with the others appended to its segment in this turn of the event loop (one writev; src/turn.ts). */
  private write(seg: Segment, offset: number, header: Buffer, payload: Buffer): Promise<void> {
    let w = this.pendingWrite;
    if (w !== undefined && (w.seg !== seg || w.end !== offset || w.chunks.length >= WRITE_MAX_BUFFERS)) {
      this.turnEnd.flush();
      w = undefined;
    }
    if (w === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      w = { seg, start: offset, end: offset, chunks: [], done, resolve, reject };
      this.pendingWrite = w;
    }
    w.chunks.push(header, payload);
    w.end += header.byteLength + payload.byteLength;
    this.turnEnd.added();
    return w.done;
  }

  private flushWrite(): void {
    const w = this.pendingWrite;
    if (w === undefined) return;
    this.pendingWrite = undefined;
    w.seg.ready.then(() => w.seg.file!.write(w.chunks, w.start)).then(w.resolve, w.reject);
  }

  private segmentFor(length: number): Segment {
    const a = this.active;
    if (a && !a.sealed && (a.size === 0 || a.size + length <= this.o.segmentBytes)) return a;
    if (a) this.seal(a);
    const id = this.nextId++;
    const path = join(this.dir, segmentName(id));
    const seg: Segment = { id, path, ready: Promise.resolve(), file: undefined, size: 0, live: 0, sealed: false, dirty: false, sync: undefined };
    seg.ready = this.fs.open(path).then(async (file) => {
      seg.file = file;
      seg.sync = new SyncGroup(file);
      await this.fs.syncDir(this.dir);
    });
    // Appends that arrive before it is open wait on `ready`; a failed open fails them.
    seg.ready.catch(() => undefined);
    this.active = seg;
    this.segments.set(id, seg);
    return seg;
  }

  private seal(seg: Segment): void {
    seg.sealed = true;
    if (this.active === seg) this.active = undefined;
    // Interval policy: what it holds must reach the disk too.
    if (seg.dirty && seg.file) {
      seg.dirty = false;
      seg.file.sync().catch((e: unknown) => this.owner.writeFailed(e));
    }
  }

  /** fsync of the active segment (interval policy). */
  async syncActive(): Promise<void> {
    const seg = this.active;
    if (!seg?.dirty || !seg.file) return;
    seg.dirty = false;
    await seg.file.sync();
  }

  // ---------------------------------------------------------------- delivery

  private pump(): void {
    if (this.stopped) return;
    const wait = this.pausedUntil - this.owner.now();
    if (wait > 0) {
      // Backing off after a failed delivery: come back when the pause ends.
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    // After a failure, let the deliveries in flight settle, then go on one
    // at a time from the oldest batch until the sink takes one again.
    if (this.probing && this.inflight > 0) return;
    const limit = this.probing ? 1 : this.o.concurrency;
    if (this.scan < this.head) this.scan = this.head;
    while (this.scan < this.pending.length && (this.pending[this.scan]!.state === 'sending' || this.pending[this.scan]!.state === 'done')) this.scan++;
    for (let i = this.scan; i < this.pending.length && this.inflight < limit; i++) {
      const r = this.pending[i]!;
      if (r.state === 'writing') break; // in queue order: wait until it is written
      if (r.state !== 'queued') continue;
      const group = [r];
      if (this.o.sender.merge !== undefined && !r.alone && r.payloadLength < MERGE_RECORD_MAX_BYTES) {
        let bytes = r.payloadLength;
        let j = i + 1;
        for (; j < this.pending.length && group.length < MERGE_MAX_RECORDS; j++) {
          const next = this.pending[j]!;
          if (next.state !== 'queued' || next.alone || next.payloadLength >= MERGE_RECORD_MAX_BYTES || bytes + next.payloadLength > MERGE_MAX_BYTES) break;
          bytes += next.payloadLength;
          group.push(next);
        }
        // A small group at the tail of the queue waits a moment for more, while
        // another delivery is in flight: a fleet of small batches then costs a
        // request per MERGE_LINGER_MS, not one per batch.
        const tail = j === this.pending.length;
        const young = this.owner.now() - r.enqueuedMs < MERGE_LINGER_MS;
        if (tail && young && bytes < MERGE_MAX_BYTES / 4 && this.inflight > 0 && !this.draining) {
          this.lingerTimer ??= setTimeout(() => {
            this.lingerTimer = undefined;
            this.pump();
          }, MERGE_LINGER_MS);
          break;
        }
      }
      i += group.length - 1;
      this.deliver(group);
    }
  }

  private deliver(group: Rec[]): void {
    for (const r of group) r.state = 'sending';
    this.inflight++;
    const done = this.attemptDelivery(group).finally(() => {
      this.inflight--;
      this.inflightDone.delete(done);
      this.release();
      this.pump();
    });
    this.inflightDone.add(done);
  }

  /** The payloads of `group` (from memory, or read back); records that cannot be read are dropped and left out. */
  private async payloadsOf(group: Rec[]): Promise<Array<{ r: Rec; payload: Buffer }>> {
    const out: Array<{ r: Rec; payload: Buffer }> = [];
    for (const r of group) {
      if (r.payload !== undefined) {
        out.push({ r, payload: r.payload });
        continue;
      }
      try {
        out.push({ r, payload: await r.segment.file!.read(r.offset + RECORD_HEADER_BYTES, r.payloadLength) });
      } catch (err) {
        this.o.log.error(`queue ${r.segment.path}: cannot read the batch at offset ${r.offset}, dropped: ${(err as Error).message}`);
        this.finish(r);
        this.o.metrics.dropped(this.shard, 'unreadable', 1, r.samples);
      }
    }
    return out;
  }

  /** One payload for the group: its own, or the sender's merge of all (undefined: cannot be merged). */
  private merged(parts: Array<{ r: Rec; payload: Buffer }>): Buffer | undefined {
    if (parts.length === 1) return parts[0]!.payload;
    try {
      return this.o.sender.merge!(parts.map((p) => p.payload));
    } catch (err) {
      this.o.log.warn(`queue shard ${this.shard}: ${parts.length} batches could not be merged (${(err as Error).message}); sending them one by one`);
      return undefined;
    }
  }

  private async attemptDelivery(group: Rec[]): Promise<void> {
    // Requests are issued in queue order even when some payloads come from
    // memory and others from disk: each waits for the previous one's start.
    const previous = this.lastIssued;
    let issued!: () => void;
    this.lastIssued = new Promise((resolve) => (issued = resolve));
    const parts = await this.payloadsOf(group);
    const payload = parts.length === 0 ? undefined : this.merged(parts);
    if (payload === undefined) {
      await previous;
      issued();
      for (const p of parts) this.requeue(p.r, true);
      return;
    }
    const samples = parts.reduce((n, p) => n + p.r.samples, 0);
    await previous;
    const sending = this.o.sender.send(this.shard, payload, samples, parts.length > 1);
    issued();
    try {
      await sending;
      this.attempt = 0;
      this.probing = false;
      const now = this.owner.now();
      for (const { r } of parts) {
        this.finish(r);
        this.o.metrics.delivered(this.shard, r.samples, Math.max(0, now - r.enqueuedMs) / 1000);
      }
    } catch (err) {
      if (err instanceof SentioError && err.code === 'SENTIO_ERR_SINK_REJECTED') {
        if (parts.length > 1) {
          // One of them is refused for good: find it by sending each alone.
          for (const { r } of parts) this.requeue(r, true);
          return;
        }
        // The sink counted and logged it; it will never be accepted.
        this.finish(parts[0]!.r);
        this.o.metrics.dropped(this.shard, 'rejected', 1, parts[0]!.r.samples);
        return;
      }
      for (const { r } of parts) this.requeue(r, false);
      this.probing = true;
      const wait = jitteredBackoff(this.o.retryBaseMs, this.attempt++);
      this.pausedUntil = this.owner.now() + wait;
      this.o.log.debug(`queue shard ${this.shard}: delivery failed (${(err as Error).message}); next try in ${Math.round(wait)} ms`);
    }
  }

  private finish(r: Rec): void {
    r.state = 'done';
    if (r.payload !== undefined) {
      this.owner.releaseMemory(r.payload.byteLength);
      r.payload = undefined;
    }
  }

  /** A record whose delivery did not happen goes back to the queue (`alone`: to be sent by itself); pump looks from the head again. */
  private requeue(r: Rec, alone: boolean): void {
    r.state = 'queued';
    if (alone) r.alone = true;
    this.scan = this.head;
  }

  /** Releases the delivered prefix: cursor forward, segments behind it removed. */
  private release(): void {
    const before = this.head;
    while (this.head < this.pending.length && this.pending[this.head]!.state === 'done') {
      const r = this.pending[this.head]!;
      r.segment.live--;
      this.head++;
    }
    if (this.head === before) return;
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.scan = Math.max(0, this.scan - this.head);
      this.head = 0;
    }
    this.saveCursor();
    const c = this.cursor();
    for (const seg of [...this.segments.values()]) {
      if (seg.id < c.segment && seg.live === 0 && seg !== this.active) void this.removeSegment(seg);
    }
    if (this.head === this.pending.length) for (const w of this.drainWaiters.splice(0)) w();
  }

  private cursor(): Cursor {
    const first = this.pending[this.head];
    if (first) return { segment: first.segment.id, offset: first.offset };
    const a = this.active;
    return a ? { segment: a.id, offset: a.size } : { segment: this.nextId, offset: 0 };
  }

  private saveCursor(): void {
    if (this.cursorWriting !== undefined || !this.cursorFile) {
      this.cursorDirty = true;
      return;
    }
    this.cursorDirty = false;
    this.cursorWriting = this.cursorFile
      .write([encodeCursor(this.cursor())], 0)
      .catch((e: unknown) => {
        this.o.log.warn(`queue ${this.dir}: cursor not saved (${(e as Error).message}); delivered batches may be sent again after a restart`);
      })
      .finally(() => {
        this.cursorWriting = undefined;
        if (this.cursorDirty) this.saveCursor();
      });
  }

  private async removeSegment(seg: Segment): Promise<void> {
    this.segments.delete(seg.id);
    this.owner.diskBytes -= seg.size;
    try {
      await seg.file?.close();
      await this.fs.remove(seg.path);
    } catch (e) {
      this.o.log.warn(`queue ${seg.path}: not removed: ${(e as Error).message}`);
    }
  }

  /**
   * Frees the active segment when everything in it has been delivered (it
   * is otherwise kept, to avoid a file per batch when the sink keeps up).
   * Returns the bytes freed.
   */
  reclaimActive(): number {
    const a = this.active;
    if (!a || a.live > 0 || a.size === 0) return 0;
    this.seal(a);
    const freed = a.size;
    void this.removeSegment(a);
    return freed;
  }

  /**
   * drop-oldest: gives up the oldest segment whose records are not being
   * sent; returns the bytes freed (0 when there is nothing to drop).
   */
  dropOldestSegment(): number {
    for (const seg of this.segments.values()) {
      const recs = this.pending.slice(this.head).filter((r) => r.segment === seg);
      if (recs.some((r) => r.state === 'sending' || r.state === 'writing')) continue;
      if (seg === this.active) this.seal(seg);
      let samples = 0;
      for (const r of recs) {
        samples += r.samples;
        this.finish(r);
      }
      if (recs.length > 0) this.o.metrics.dropped(this.shard, 'full', recs.length, samples);
      this.o.log.warn(`queue ${seg.path}: queue full, dropped its ${recs.length} oldest batches (${samples} samples)`);
      // Records of this segment behind undelivered older ones are released later;
      // the space is freed now.
      const freed = seg.size;
      this.segments.delete(seg.id);
      this.owner.diskBytes -= seg.size;
      seg.size = 0;
      void seg.file?.close().then(() => this.fs.remove(seg.path)).catch((e: unknown) => this.o.log.warn(`queue ${seg.path}: not removed: ${(e as Error).message}`));
      seg.file = undefined;
      this.release();
      return freed;
    }
    return 0;
  }

  stats(): ShardStats {
    let records = 0;
    let samples = 0;
    let oldestMs: number | undefined;
    for (let i = this.head; i < this.pending.length; i++) {
      const r = this.pending[i]!;
      if (r.state === 'done' || r.state === 'writing') continue;
      records++;
      samples += r.samples;
      oldestMs = oldestMs === undefined ? r.enqueuedMs : Math.min(oldestMs, r.enqueuedMs);
    }
    return { shard: this.shard, records, samples, bytes: this.diskBytes(), oldestMs };
  }

  /** Bytes of this shard's segment files. */
  diskBytes(): number {
    let bytes = 0;
    for (const s of this.segments.values()) bytes += s.size;
    return bytes;
  }

  /** Resolves when everything appended so far is delivered (or dropped). */
  drained(): Promise<void> {
    if (this.head === this.pending.length) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Dispatches no more deliveries. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Stops dispatching; waits for deliveries in flight (bounded), saves the cursor, syncs and closes files. */
  async close(inflightMs: number): Promise<void> {
    this.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflightDone]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, inflightMs);
      }),
    ]);
    clearTimeout(timer);
    while (this.cursorWriting !== undefined) await this.cursorWriting;
    if (this.cursorFile) {
      await this.cursorFile.write([encodeCursor(this.cursor())], 0).catch(() => undefined);
      await this.cursorFile.close().catch(() => undefined);
      this.cursorFile = undefined;
    }
    for (const seg of this.segments.values()) {
      if (!seg.file) continue;
      if (seg.dirty) await seg.file.sync().catch((e: unknown) => this.o.log.error(`queue ${seg.path}: final fsync failed: ${(e as Error).message}`));
      await seg.file.close().catch(() => undefined);
      seg.file = undefined;
    }
  }
}

/** A queue with less room than this left (queue-full refuse) is not ready: a typical batch would not fit. */
const READY_HEADROOM_BYTES = 1 << 20;
/** At close, how long deliveries in flight get to settle after the sender was told to abort them. */
const INFLIGHT_SETTLE_MS = 250;

export class DurableQueue {
  /** Bytes of segment files on disk, all shards. */
  diskBytes = 0;
  private memoryBytes = 0;
  private readonly shardQueues: ShardQueue[];
  private closing = false;
  private failure: { until: number; reason: string } | undefined;
  private fsyncTimer: NodeJS.Timeout | undefined;
  readonly now = (): number => Date.now();

  private readonly o: QueueOptions;

  private constructor(options: QueueOptions) {
    // At least four segments fit, so that whole segments can be freed (and,
    // with drop-oldest, dropped) as delivery moves on.
    const o = { ...options, segmentBytes: Math.min(options.segmentBytes, Math.floor(options.maxBytes / 4)) };
    this.o = o;
    const fs = o.fs ?? nodeQueueFs;
    this.shardQueues = Array.from({ length: o.shards }, (_, i) => new ShardQueue(i, join(o.dir, `shard-${i}`), this, o, fs));
  }

  /** Opens (and replays) the queue under `o.dir`. */
  static async open(o: QueueOptions): Promise<DurableQueue> {
    const q = new DurableQueue(o);
    let records = 0;
    let damaged = 0;
    for (const s of q.shardQueues) {
      const r = await s.open();
      records += r.records;
      damaged += r.damaged;
    }
    if (records > 0 || damaged > 0) {
      o.log.info(`queue ${o.dir}: ${records} batches to deliver from the last run${damaged > 0 ? `, ${damaged} damaged bytes skipped` : ''}`);
    }
    if (o.fsync === 'interval') {
      q.fsyncTimer = setInterval(() => {
        for (const s of q.shardQueues) s.syncActive().catch((e: unknown) => q.writeFailed(e));
      }, o.fsyncIntervalMs).unref();
    }
    return q;
  }

  /**
   * Stores one batch (one payload per shard; empty payloads are skipped).
   * Resolves once every part is durable; throws a SentioError when the
   * batch is not stored (then it must not be acknowledged).
   */
  async append(payloads: readonly Buffer[], samples: readonly number[]): Promise<void> {
    if (this.closing) throw new SentioError('SENTIO_ERR_NOT_READY', 'the gateway is shutting down');
    if (this.failure !== undefined) {
      if (this.now() < this.failure.until) throw new SentioError('SENTIO_ERR_QUEUE_UNAVAILABLE', `the queue cannot store batches: ${this.failure.reason}`);
      this.failure = undefined;
    }
    let need = 0;
    for (const p of payloads) if (p.byteLength > 0) need += RECORD_HEADER_BYTES + p.byteLength;
    if (this.diskBytes + need > this.o.maxBytes) this.makeRoom(need);
    const now = this.now();
    const parts: Promise<void>[] = [];
    for (let i = 0; i < payloads.length; i++) {
      const p = payloads[i]!;
      if (p.byteLength > 0) parts.push(this.shardQueues[i]!.append(p, samples[i] ?? 0, now));
    }
    const results = await Promise.allSettled(parts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      this.writeFailed(failed.reason);
      throw new SentioError('SENTIO_ERR_QUEUE_UNAVAILABLE', `the batch could not be stored durably: ${(failed.reason as Error).message}`, { cause: failed.reason });
    }
  }

  private makeRoom(need: number): void {
    const full = (): SentioError =>
      new SentioError('SENTIO_ERR_QUEUE_FULL', `the queue is full (${this.diskBytes} of ${this.o.maxBytes} bytes waiting for delivery); back off and retry`);
    for (const s of this.shardQueues) s.reclaimActive();
    if (this.diskBytes + need <= this.o.maxBytes) return;
    if (this.o.full === 'refuse' || need > this.o.maxBytes) throw full();
    while (this.diskBytes + need > this.o.maxBytes) {
      // The shard holding the most bytes gives up its oldest segment.
      const order = [...this.shardQueues].sort((a, b) => b.diskBytes() - a.diskBytes());
      if (!order.some((s) => s.dropOldestSegment() > 0)) throw full();
    }
  }

  /** Why the next batch would be refused (closing, a recent write failure, full and refusing), or undefined when it would be taken. */
  refusal(): string | undefined {
    if (this.closing) return 'shutting down';
    if (this.failure !== undefined && this.now() < this.failure.until) return `cannot store batches: ${this.failure.reason}`;
    if (this.o.full === 'refuse' && this.diskBytes + READY_HEADROOM_BYTES > this.o.maxBytes) return `full (${this.diskBytes} of ${this.o.maxBytes} bytes waiting for delivery)`;
    return undefined;
  }

  /** A write or fsync failed: refuse new batches for a moment rather than acknowledge what may not be stored. */
  writeFailed(err: unknown): void {
    const reason = (err as Error).message;
    this.failure = { until: this.now() + WRITE_FAILURE_PAUSE_MS, reason };
    this.o.log.error(`queue ${this.o.dir}: write failed, refusing new batches for ${WRITE_FAILURE_PAUSE_MS} ms: ${reason}`);
  }

  reserveMemory(bytes: number): boolean {
    if (this.memoryBytes + bytes > this.o.memoryBytes) return false;
    this.memoryBytes += bytes;
    return true;
  }

  releaseMemory(bytes: number): void {
    this.memoryBytes -= bytes;
  }

  get memoryInUse(): number {
    return this.memoryBytes;
  }

  stats(): ShardStats[] {
    return this.shardQueues.map((s) => s.stats());
  }

  /** Resolves when everything appended so far has been delivered or dropped. */
  async drained(): Promise<void> {
    await Promise.all(this.shardQueues.map((s) => s.drained()));
  }

  /**
   * Refuses new batches, delivers for up to `graceMs`, then stops delivery
   * (what is left stays on disk for the next start): deliveries still in
   * flight are aborted (the sender's `abort`), and given a moment to settle
   * so the cursor is saved past those that did complete; then the files are
   * synced and closed. Takes `graceMs` plus at most INFLIGHT_SETTLE_MS and
   * the final fsyncs.
   */
  async close(graceMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    for (const s of this.shardQueues) s.draining = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.drained(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const s of this.shardQueues) s.stop();
    this.o.sender.abort?.();
    await Promise.all(this.shardQueues.map((s) => s.close(INFLIGHT_SETTLE_MS)));
  }
}
