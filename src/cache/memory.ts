// The in-process cache: the default when no --redis URL is given, and the
// reference the Redis backend is checked against (conformance.ts).
//
// State lives in four tables (values, token buckets, hit windows,
// revocations), each a Map whose entries carry an expiry on a monotonic
// clock. Expired entries are dropped lazily when read and by one periodic
// sweep (an unref'd interval per backend, never a timer per key).
//
// Memory bound: each table holds at most `maxEntries` (default 100,000)
// entries, so at most 4 × maxEntries entries in all, each costing its key and
// value strings plus ~100 bytes of bookkeeping. When a table is full, expired
// entries are swept first; then values, buckets and windows evict the entry
// written least recently (a dropped bucket or window starts afresh, a dropped
// value is a miss). Revocations are never evicted (forgetting one would make
// a revoked token valid again): revoke() rejects while that table is full.
// Evictions are counted in `stats()`.
//
// Pub/sub: publish() queues one microtask per subscriber, so callbacks run
// asynchronously, after publish() returns, in publish order. A callback
// that throws is reported to the logger and does not stop the others.
//
// Several handles can share one backend (`share()`), which is how the
// conformance suite checks cross-instance behaviour in one process.

import { performance } from 'node:perf_hooks';
import { SentioError } from '../errors.js';
import { type Logger, silentLogger } from '../log/index.js';
import type { Cache, TakeResult, Unsubscribe } from './types.js';
import { checkBucket, checkCount, checkTtl, deliver, TOKEN_EPSILON } from './validate.js';

export interface MemoryCacheOptions {
  /** Entries per table (values, buckets, windows, revocations); default 100,000. */
  maxEntries?: number;
  /** How often expired entries are swept; default 10 s. */
  sweepIntervalMs?: number;
  /** A monotonic clock in ms (tests inject one); default performance.now. */
  now?: () => number;
  logger?: Logger;
}

interface Expiring {
  expiresAt: number;
}

/** A Map with per-entry expiry, bounded to `max` entries. */
class Table<V extends Expiring> {
  readonly map = new Map<string, V>();
  evictions = 0;
  private lastFullSweep = -Infinity;

  constructor(
    readonly name: string,
    private readonly max: number,
    private readonly evict: boolean,
  ) {}

  get(key: string, now: number): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.map.delete(key);
      return undefined;
    }
    return e;
  }

  put(key: string, entry: V, now: number): void {
    // Delete first so the Map's order is the order of last writes.
    if (!this.map.delete(key) && this.map.size >= this.max) this.makeRoom(now);
    this.map.set(key, entry);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  sweep(now: number): void {
    for (const [k, e] of this.map) if (e.expiresAt <= now) this.map.delete(k);
  }

  private makeRoom(now: number): void {
    // A full sweep is O(n); at most one a second while the table stays full of live entries.
    if (now - this.lastFullSweep >= 1000) {
      this.lastFullSweep = now;
      this.sweep(now);
      if (this.map.size < this.max) return;
    }
    if (!this.evict) throw new SentioError('SENTIO_ERR_STORE_UNAVAILABLE', `in-memory cache: the ${this.name} table is full (${this.max} entries)`);
    const oldest = this.map.keys().next();
    if (!oldest.done) {
      this.map.delete(oldest.value);
      this.evictions++;
    }
  }
}

interface Value extends Expiring {
  value: string;
}
interface Bucket extends Expiring {
  tokens: number;
  /** When `tokens` was computed. */
  at: number;
}
interface Window extends Expiring {
  count: number;
}

interface Subscription {
  readonly channel: string;
  readonly onMessage: (message: string) => void;
  active: boolean;
}

/**
 * One token-bucket step, shared in spirit with the Lua script in redis.ts
 * (keep the two in step). `state` is the stored bucket or undefined (full).
 * Returns the result and the state to store (undefined: delete, it is full).
 */
export function takeTokens(state: { tokens: number; at: number } | undefined, now: number, cost: number, ratePerSecond: number, burst: number): { result: TakeResult; next: { tokens: number; at: number; ttlMs: number } | undefined | 'unchanged' } {
  let tokens = burst;
  if (state !== undefined) {
    const elapsed = Math.max(0, now - state.at); // a clock that steps back refills nothing
    tokens = Math.min(burst, state.tokens + (elapsed * ratePerSecond) / 1000);
  }
  const whole = (t: number) => Math.floor(t + TOKEN_EPSILON);
  if (cost > burst) return { result: { ok: false, remaining: whole(tokens), retryAfterMs: Infinity }, next: 'unchanged' };
  if (tokens + TOKEN_EPSILON < cost) {
    return { result: { ok: false, remaining: whole(tokens), retryAfterMs: Math.ceil(((cost - tokens - TOKEN_EPSILON) * 1000) / ratePerSecond) }, next: 'unchanged' };
  }
  // A negative cost is a refund (refund()): never beyond the burst.
  tokens = Math.min(burst, Math.max(0, tokens - cost));
  const ttlMs = Math.ceil(((burst - tokens) * 1000) / ratePerSecond);
  return { result: { ok: true, remaining: whole(tokens), retryAfterMs: 0 }, next: ttlMs > 0 ? { tokens, at: now, ttlMs } : undefined };
}

/** The state shared by the handles of one in-process cache. */
class MemoryBackend {
  readonly now: () => number;
  readonly logger: Logger;
  readonly values: Table<Value>;
  readonly buckets: Table<Bucket>;
  readonly windows: Table<Window>;
  readonly revoked: Table<Expiring>;
  readonly channels = new Map<string, Set<Subscription>>();
  private handles = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: MemoryCacheOptions) {
    const max = opts.maxEntries ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntries must be an integer >= 1, got ${max}`);
    this.now = opts.now ?? (() => performance.now());
    this.logger = opts.logger ?? silentLogger;
    this.values = new Table('values', max, true);
    this.buckets = new Table('buckets', max, true);
    this.windows = new Table('windows', max, true);
    this.revoked = new Table('revocations', max, false);
  }

  open(): void {
    if (this.handles++ === 0) {
      this.sweeper = setInterval(() => this.sweep(), this.opts.sweepIntervalMs ?? 10_000);
      this.sweeper.unref();
    }
  }

  release(): void {
    if (--this.handles === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  sweep(): void {
    const now = this.now();
    for (const t of [this.values, this.buckets, this.windows, this.revoked]) t.sweep(now);
  }

  unsubscribe(sub: Subscription): void {
    sub.active = false; // messages already queued for it are not delivered either
    const subs = this.channels.get(sub.channel);
    if (subs?.delete(sub) && subs.size === 0) this.channels.delete(sub.channel);
  }
}

export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  private closed = false;
  private readonly mine = new Set<Subscription>();

  constructor(opts?: MemoryCacheOptions);
  /** @internal a further handle on an existing backend; use share(). */
  constructor(opts: MemoryCacheOptions | undefined, backend: MemoryBackend);
  constructor(opts: MemoryCacheOptions = {}, private readonly backend = new MemoryBackend(opts)) {
    backend.open();
  }

  /** Another handle on the same state, as a second gateway instance would see it through Redis. */
  share(): MemoryCache {
    this.check();
    return new MemoryCache({}, this.backend);
  }

  /** Entry counts and evictions per table. */
  stats(): Record<'values' | 'buckets' | 'windows' | 'revocations', { entries: number; evictions: number }> {
    const b = this.backend;
    const s = (t: Table<Expiring>) => ({ entries: t.map.size, evictions: t.evictions });
    return { values: s(b.values), buckets: s(b.buckets), windows: s(b.windows), revocations: s(b.revoked) };
  }

  /** Drops every expired entry now (the periodic sweep does this on its own). */
  sweep(): void {
    this.backend.sweep();
  }

  async get(key: string): Promise<string | undefined> {
    this.check();
    return this.backend.values.get(key, this.backend.now())?.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const ttl = checkTtl(ttlMs);
    this.check();
    const now = this.backend.now();
    this.backend.values.put(key, { value, expiresAt: now + ttl }, now);
  }

  async del(key: string): Promise<void> {
    this.check();
    this.backend.values.delete(key);
  }

  async take(key: string, cost: number, ratePerSecond: number, burst: number): Promise<TakeResult> {
    checkBucket(cost, ratePerSecond, burst);
    this.check();
    const b = this.backend;
    const now = b.now();
    const { result, next } = takeTokens(b.buckets.get(key, now), now, cost, ratePerSecond, burst);
    if (next === undefined) b.buckets.delete(key);
    else if (next !== 'unchanged') b.buckets.put(key, { tokens: next.tokens, at: now, expiresAt: now + next.ttlMs }, now);
    return result;
  }

  async refund(key: string, n: number, ratePerSecond: number, burst: number): Promise<void> {
    checkBucket(n, ratePerSecond, burst);
    this.check();
    const b = this.backend;
    const now = b.now();
    const { next } = takeTokens(b.buckets.get(key, now), now, -n, ratePerSecond, burst);
    if (next === undefined) b.buckets.delete(key);
    else if (next !== 'unchanged') b.buckets.put(key, { tokens: next.tokens, at: now, expiresAt: now + next.ttlMs }, now);
  }

  async hit(key: string, windowMs: number, n = 1): Promise<number> {
    const ttl = checkTtl(windowMs, 'windowMs');
    checkCount(n);
    this.check();
    const b = this.backend;
    const now = b.now();
    const w = b.windows.get(key, now);
    if (w !== undefined) return (w.count += n);
    b.windows.put(key, { count: n, expiresAt: now + ttl }, now);
    return n;
  }

  async revoke(id: string, ttlMs: number): Promise<void> {
    const ttl = checkTtl(ttlMs);
    this.check();
    const b = this.backend;
    const now = b.now();
    const current = b.revoked.get(id, now);
    // A second revocation never shortens the first.
    if (current === undefined || current.expiresAt < now + ttl) b.revoked.put(id, { expiresAt: now + ttl }, now);
  }

  async isRevoked(id: string): Promise<boolean> {
    this.check();
    return this.backend.revoked.get(id, this.backend.now()) !== undefined;
  }

  async acquire(key: string, ttlMs: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs);
    this.check();
    const b = this.backend;
    const now = b.now();
    if (b.values.get(key, now) !== undefined) return false;
    b.values.put(key, { value: '1', expiresAt: now + ttl }, now);
    return true;
  }

  async publish(channel: string, message: string): Promise<void> {
    this.check();
    const subs = this.backend.channels.get(channel);
    if (subs === undefined) return;
    const logger = this.backend.logger;
    for (const sub of subs) {
      queueMicrotask(function deliverMessage() {
        if (sub.active) deliver(sub.onMessage, message, (err) => logger.error(`cache: a subscriber of ${channel} threw: ${String(err)}`));
      });
    }
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe> {
    this.check();
    const sub: Subscription = { channel, onMessage, active: true };
    let subs = this.backend.channels.get(channel);
    if (subs === undefined) this.backend.channels.set(channel, (subs = new Set()));
    subs.add(sub);
    this.mine.add(sub);
    const { backend, mine } = this;
    return async function unsubscribe() {
      mine.delete(sub);
      backend.unsubscribe(sub);
    };
  }

  async health(): Promise<void> {
    this.check();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const sub of this.mine) this.backend.unsubscribe(sub);
    this.mine.clear();
    this.backend.release();
  }

  private check(): void {
    if (this.closed) throw new Error('cache: closed');
  }
}
