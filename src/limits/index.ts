// Per-token limits on what a sender may write: samples per second (a token
// bucket) and new series per minute (a cardinality guard). Checked after a
// batch is parsed and before it is stored, so a refused batch leaves no
// trace; the refusal says when to come back.
//
// - Rate: each token's bucket holds up to one second of its rate and may go
//   into debt by one batch, so batches larger than a second's allowance
//   still pass when the bucket is full, and the average stays at the rate.
// - Cardinality: the distinct series a token wrote in the current minute
//   (by series hash); a batch that would take it past the limit is refused
//   whole. The minute is a fixed window, reset on the minute.
// - Memory: one entry per token seen; entries idle for two minutes go.
// - Several instances: with a shared bucket store (the Redis cache), the
//   rate is checked there instead, atomically across instances (one round
//   trip per batch, only when a rate is configured); a batch costs at most
//   one second's allowance there, the same debt rule as the local bucket.
//   The cardinality guard stays per instance.

import type { TakeResult } from '../cache/types.js';
import { SentioError } from '../errors.js';
import { HashSet64 } from './hashset.js';

export interface LimitOptions {
  /** Samples per second per token; 0: unlimited. */
  maxSamplesPerSecond: number;
  /** Distinct series per token per minute; 0: unlimited. */
  maxSeriesPerMinute: number;
  /** Rate buckets shared across instances (Cache.take); absent: buckets in this process. */
  shared?: { take(key: string, cost: number, ratePerSecond: number, burst: number): Promise<TakeResult> };
}

interface TokenState {
  tokens: number;
  refilledMs: number;
  minute: number;
  series: HashSet64;
  seenMs: number;
}

const IDLE_MS = 120_000;

export class IngestLimits {
  private readonly states = new Map<string, TokenState>();
  private lastSweepMs = 0;

  constructor(
    private readonly o: LimitOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `admit` needs the batch's series hashes. */
  get needsSeries(): boolean {
    return this.o.maxSeriesPerMinute > 0;
  }

  get enabled(): boolean {
    return this.o.maxSamplesPerSecond > 0 || this.o.maxSeriesPerMinute > 0;
  }

  /**
   * Admits a parsed batch of `principal` with `samples` samples and its
   * distinct series (u64 LE hashes), or throws SENTIO_ERR_RATE_LIMITED /
   * SENTIO_ERR_CARDINALITY_LIMIT with `details.retryAfterMs`.
   */
  admit(principal: string, samples: number, seriesHashes: Buffer | undefined): void | Promise<void> {
    if (!this.enabled || samples === 0) return;
    const now = this.now();
    this.sweep(now);
    const s = this.state(principal, now);
    const rate = this.o.maxSamplesPerSecond;
    const shared = this.o.shared;
    if (rate > 0 && shared === undefined) {
      s.tokens = Math.min(rate, s.tokens + ((now - s.refilledMs) / 1000) * rate);
      s.refilledMs = now;
      if (s.tokens <= 0) {
        const retryAfterMs = Math.ceil((-s.tokens / rate) * 1000) + 1;
        throw new SentioError('SENTIO_ERR_RATE_LIMITED', `over ${rate} samples/s for this token; retry in ${retryAfterMs} ms`, { details: { retryAfterMs } });
      }
    }
    const limit = this.o.maxSeriesPerMinute;
    if (limit > 0 && seriesHashes !== undefined) {
      const minute = Math.floor(now / 60_000);
      if (minute !== s.minute) {
        s.minute = minute;
        s.series.clear();
      }
      // The batch's series are distinct (the core says each once), so counting the unknown ones is enough.
      const words = u32Words(seriesHashes);
      const fresh: number[] = [];
      for (let i = 0; i < words.length; i += 2) if (!s.series.has(words[i]!, words[i + 1]!)) fresh.push(i);
      if (s.series.size + fresh.length > limit) {
        const retryAfterMs = (minute + 1) * 60_000 - now;
        throw new SentioError(
          'SENTIO_ERR_CARDINALITY_LIMIT',
          `the batch has ${fresh.length} new series; this token may write ${limit} distinct series a minute and has written ${s.series.size}`,
          { details: { retryAfterMs } },
        );
      }
      for (const i of fresh) s.series.add(words[i]!, words[i + 1]!);
    }
    if (rate > 0 && shared !== undefined) {
      return shared.take(`ingest:${principal}`, Math.min(samples, rate), rate, rate).then(
        (r) => {
          if (r.ok) return;
          const retryAfterMs = Math.max(1, Math.ceil(r.retryAfterMs));
          throw new SentioError('SENTIO_ERR_RATE_LIMITED', `over ${rate} samples/s for this token; retry in ${retryAfterMs} ms`, { details: { retryAfterMs } });
        },
        (err: unknown) => {
          throw new SentioError('SENTIO_ERR_STORE_UNAVAILABLE', `rate-limit cache: ${(err as Error).message}`, { cause: err });
        },
      );
    }
    if (rate > 0) s.tokens -= samples;
  }

  private state(principal: string, now: number): TokenState {
    let s = this.states.get(principal);
    if (s === undefined) {
      s = { tokens: this.o.maxSamplesPerSecond, refilledMs: now, minute: Math.floor(now / 60_000), series: new HashSet64(), seenMs: now };
      this.states.set(principal, s);
    }
    s.seenMs = now;
    return s;
  }

  private sweep(now: number): void {
    if (now - this.lastSweepMs < IDLE_MS / 2) return;
    this.lastSweepMs = now;
    for (const [k, s] of this.states) if (now - s.seenMs > IDLE_MS) this.states.delete(k);
  }
}

/** The u64 LE hashes as (low, high) u32 pairs: a view when aligned, else a copy (a little-endian host's layout, as the core's). */
function u32Words(hashes: Buffer): Uint32Array {
  const n = (hashes.byteLength >>> 3) << 1;
  if (hashes.byteOffset % 4 === 0) return new Uint32Array(hashes.buffer, hashes.byteOffset, n);
  const copy = new Uint32Array(n);
  new Uint8Array(copy.buffer).set(hashes.subarray(0, n * 4));
  return copy;
}
