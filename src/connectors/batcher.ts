// How a connector writes: decoded samples gathered into typed-readings
// batches (by count, and by a few milliseconds), each handed to the
// IngestPort; and each message told when all of its samples are stored, so
// a connector acknowledges its source (an MQTT PUBACK) only then.
//
// - One batch in flight at a time: samples arriving meanwhile form the next
//   one, which goes as soon as the first is stored (group commit: the busier,
//   the larger the batches). Messages are therefore answered in order.
// - A batch refused for a reason that passes (a sink or queue unavailable,
//   the gateway not ready, a rate limit) is retried with backoff, for as
//   long as the connector runs: nothing acknowledged is lost, and nothing is
//   acknowledged before it is stored. A batch refused for good (a sink
//   rejecting it) is dropped and counted, and its messages are answered:
//   sent again, they would be refused again.
// - Pending samples are bounded (`maxPendingSamples`): `full` tells the
//   connector to stop taking more (or to drop, counted, what it cannot hold).
// - close(): the pending batches get `graceMs` to be stored; the messages
//   of what is left fail (not acknowledged: the source sends them again).

import type { Principal } from '../auth/index.js';
import { SentioError, asSentioError } from '../errors.js';
import { encodeLabels, native } from '../native/index.js';
import type { IngestResult, Readings } from '../native/types.js';
import type { IngestPort } from '../pipeline/port.js';
import { Backoff } from './backoff.js';
import type { Rhythm, TrackedSeries, Watch } from './staleness.js';
import type { ConnectorStatus } from './status.js';

export interface BatcherOptions {
  port: IngestPort;
  /** The `protocol` label of what it writes (mqtt, homeassistant, ...). */
  protocol: string;
  /** Who writes: its labels (`connector`) are the samples' defaults. */
  principal: Principal;
  status: ConnectorStatus;
  /** A batch goes once it holds this many samples... */
  maxSamples?: number;
  /** ...or once its first sample is this old (ms). */
  maxDelayMs?: number;
  maxPendingSamples?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Tells each series' arrivals to the watch (learned staleness): for connectors whose series report at intervals. */
  watch?: Watch;
}

/** A message's completion: resolved once its samples are stored (or dropped for good), rejected when the connector stopped first. */
type Settle = { resolve: () => void; reject: (e: Error) => void };

/** A column of a batch: a typed array grown by doubling, handed to the core without a copy. */
class Column<A extends Float64Array | Uint32Array> {
  length = 0;
  constructor(
    private a: A,
    private readonly make: (n: number) => A,
  ) {}

  push(v: number): void {
    if (this.length === this.a.length) {
      const b = this.make(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.length++] = v;
  }

  view(): A {
    return this.a.subarray(0, this.length) as A;
  }
}

class Batch {
  /**
   * The batch's series, by index: labels as text (encodeLabels) for sample(), the Series itself for
   * sampleSeries(). Holding the Series keeps their native ids registered while the batch lives.
   */
  readonly series: Array<string | Series> = [];
  /** Whether every series is a Series: then the core gets their ids, not their text. */
  private onlyIds = true;
  readonly index = new Map<string, number>();
  readonly sampleSeries = new Column(new Uint32Array(256), (n) => new Uint32Array(n));
  readonly timestamps = new Column(new Float64Array(256), (n) => new Float64Array(n));
  readonly values = new Column(new Float64Array(256), (n) => new Float64Array(n));
  readonly settles: Settle[] = [];

  get samples(): number {
    return this.values.length;
  }

  add(seriesIndex: number, timestampMs: number, value: number): void {
    this.sampleSeries.push(seriesIndex);
    this.timestamps.push(timestampMs);
    this.values.push(value);
  }

  addSeries(s: string | Series): number {
    if (typeof s === 'string') this.onlyIds = false;
    return this.series.push(s) - 1;
  }

  readings(): Readings {
    const columns = { series: [], sampleSeries: this.sampleSeries.view(), timestamps: this.timestamps.view(), values: this.values.view() };
    if (this.onlyIds) {
      const ids = new Uint32Array(this.series.length);
      for (let i = 0; i < ids.length; i++) ids[i] = (this.series[i] as Series).id;
      return { ...columns, seriesIds: ids };
    }
    return { ...columns, seriesText: this.series.map((s) => (typeof s === 'string' ? s : s.text)).join('\u0001') };
  }
}

/** Releases the native id of a Series once nothing holds it (a batch in flight holds its Series). */
const registered = new FinalizationRegistry<number>((id) => native.releaseSeries(id));

/**
 * A series a connector writes again and again (a register, a monitored
 * item): its labels are encoded once, and its place in the open batch and
 * its rhythm in the watch are kept on it, so a sample of it costs no lookup.
 * `key` identifies the series as for sample(); a series whose labels change
 * is a new Series.
 */
export class Series implements TrackedSeries {
  readonly text: string;
  /** Its id in the native series table of this (the main) thread, where connectors' readings are mapped. */
  readonly id: number;
  /** The batch it was last added to, and its index there. */
  batch: Batch | undefined = undefined;
  index = 0;
  rhythm: Rhythm | undefined = undefined;

  constructor(
    readonly key: string,
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.text = encodeLabels(labels);
    this.id = native.registerSeries(this.text);
    registered.register(this, this.id);
  }
}

/** Errors worth retrying: the refusal passes (load, availability, a rate limit that says when). */
export function retryable(e: SentioError): boolean {
  return e.status === 503 || e.status === 429;
}

/**
 * Runs `write` until it is stored or refused for good, retrying what
 * passes with backoff (or after the refusal's retryAfterMs) while `running()`.
 * Resolves with the result, or undefined when refused for good (`dropped`
 * told why); rejects with SENTIO_ERR_NOT_READY when stopped meanwhile.
 */
export async function writeWithRetry(
  write: () => Promise<IngestResult>,
  o: { running: () => boolean; status: ConnectorStatus; backoff: Backoff; wake: AbortSignal },
): Promise<IngestResult | SentioError> {
  for (;;) {
    try {
      const r = await write();
      o.backoff.reset();
      return r;
    } catch (err) {
      const e = asSentioError(err);
      if (!retryable(e)) return e;
      if (!o.running()) throw new SentioError('SENTIO_ERR_NOT_READY', `the connector stopped before its batch was stored: ${e.message}`);
      o.status.failure(`write refused, retrying: ${e.code}: ${e.message}`);
      const after = typeof e.details?.retryAfterMs === 'number' ? e.details.retryAfterMs : 0;
      await sleepUnless(Math.max(after, o.backoff.next()), o.wake);
      if (!o.running()) throw new SentioError('SENTIO_ERR_NOT_READY', `the connector stopped before its batch was stored: ${e.message}`);
    }
  }
}

function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export class ReadingsBatcher {
  private open = new Batch();
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending = 0;
  private closing = false;
  private readonly stopped = new AbortController();
  private readonly backoff: Backoff;
  private readonly maxSamples: number;
  private readonly maxDelayMs: number;
  private readonly maxPendingSamples: number;

  constructor(private readonly o: BatcherOptions) {
    this.maxSamples = o.maxSamples ?? 5000;
    this.maxDelayMs = o.maxDelayMs ?? 5;
    this.maxPendingSamples = o.maxPendingSamples ?? 200_000;
    this.backoff = new Backoff({ baseMs: o.retryBaseMs ?? 100, maxMs: o.retryMaxMs ?? 10_000 });
  }

  /** Samples taken and not yet stored. */
  get pendingSamples(): number {
    return this.pending;
  }

  /** Whether the connector should take no more for now (or drop, counted, what it cannot hold). */
  get full(): boolean {
    return this.pending >= this.maxPendingSamples;
  }

  /** Resolves once half of the bound or less is pending (at once when it is), or the batcher closes: a connector that stopped reading because it was full reads again then. */
  drained(): Promise<void> {
    if (this.pending < this.maxPendingSamples / 2 || this.closing) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private drainWaiters: Array<() => void> = [];

  private wakeDrained(): void {
    if (this.drainWaiters.length === 0 || (this.pending >= this.maxPendingSamples / 2 && !this.closing)) return;
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of w) resolve();
  }

  /**
   * One sample of series `labels` (`__name__` among them). `key` identifies
   * the series (the same labels give the same key). `watched`: told to the
   * watch, when there is one (not for series that change on events only).
   */
  sample(key: string, labels: Readonly<Record<string, string>>, timestampMs: number, value: number, watched = true): void {
    const b = this.open;
    let idx = b.index.get(key);
    if (idx === undefined) {
      idx = b.addSeries(encodeLabels(labels));
      b.index.set(key, idx);
    }
    b.add(idx, timestampMs, value);
    this.pending++;
    if (watched) this.o.watch?.seen(key, labels, timestampMs);
  }

  /** sample() of a Series (always watched): `nowMs` is when it arrived, for the watch. */
  sampleSeries(s: Series, timestampMs: number, value: number, nowMs: number): void {
    const b = this.open;
    if (s.batch !== b) {
      s.batch = b;
      s.index = b.addSeries(s);
    }
    b.add(s.index, timestampMs, value);
    this.pending++;
    this.o.watch?.seenSeries(s, timestampMs, nowMs);
  }

  /**
   * Ends a message: everything sampled since the last end belongs to it.
   * Resolves once it is stored (or dropped for good, counted); rejects when
   * the connector stops first. A message without samples resolves when the
   * messages before it do (acknowledgements stay in order).
   */
  end(): Promise<void> {
    if (this.closing) return Promise.reject(new SentioError('SENTIO_ERR_NOT_READY', 'the connector is stopping'));
    const b = this.open;
    const done = new Promise<void>((resolve, reject) => b.settles.push({ resolve, reject }));
    if (b.samples >= this.maxSamples) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.maxDelayMs);
    return done;
  }

  /** Sends the open batch now, or as soon as the one in flight is stored. */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inflight !== undefined || this.open.settles.length === 0) return;
    const batch = this.open;
    this.open = new Batch();
    this.inflight = this.store(batch).finally(() => {
      this.inflight = undefined;
      if (this.open.settles.length > 0) this.flush();
    });
  }

  private async store(batch: Batch): Promise<void> {
    const n = batch.samples;
    if (n === 0) {
      for (const s of batch.settles) s.resolve();
      return;
    }
    const { status } = this.o;
    try {
      const readings = batch.readings();
      const r = await writeWithRetry(() => this.o.port.writeReadings(this.o.protocol, readings, { principal: this.o.principal }), {
        running: () => !this.closing || this.graceLeft(),
        status,
        backoff: this.backoff,
        wake: this.stopped.signal,
      });
      if (r instanceof SentioError) {
        status.failure(`batch of ${n} samples refused: ${r.code}: ${r.message}`);
        status.dropped(n, r.code === 'SENTIO_ERR_CARDINALITY_LIMIT' ? 'limit' : 'rejected');
      } else {
        status.readings(r.samples);
        if (r.rejected > 0) {
          status.dropped(r.rejected, 'rejected');
          status.failure(`${r.rejected} of ${n} samples rejected: ${r.errors[0]?.reason ?? 'invalid'}`);
        }
      }
      for (const s of batch.settles) s.resolve();
    } catch (err) {
      status.dropped(n, 'stopped');
      for (const s of batch.settles) s.reject(err as Error);
    } finally {
      this.pending -= n;
      this.wakeDrained();
    }
  }

  private graceUntil = 0;
  private graceLeft(): boolean {
    return Date.now() < this.graceUntil;
  }

  /**
   * Stops taking messages; what is pending gets until `graceMs` to be
   * stored (retries included), then the rest fails (its messages are not
   * acknowledged).
   */
  async close(graceMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.wakeDrained();
    this.graceUntil = Date.now() + graceMs;
    this.flush();
    const timer = setTimeout(() => this.stopped.abort(), graceMs);
    try {
      while (this.inflight !== undefined) await this.inflight;
    } finally {
      clearTimeout(timer);
      this.stopped.abort();
    }
  }
}
