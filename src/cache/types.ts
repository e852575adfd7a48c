// The shared cache: what several gateway instances must agree on quickly
// and that may be lost on restart. Redis through `ioredis` when --redis URL
// is given, an in-memory default otherwise; both pass one conformance suite
// (conformance.ts). Keys are namespaced by the backend (a prefix option), so
// callers use short names ('tok:<hash>', 'rl:login:<ip>').
//
// Uses: device-token lookups (a hit spares the database), rate-limit buckets
// (ingest per token, API per user, login attempts), revocation of refresh
// and access tokens (by session id, until their expiry), alert cooldowns,
// and pub/sub (token revocations and live updates across instances).

export interface TakeResult {
  /** Whether `cost` tokens were taken. */
  ok: boolean;
  /** Whole tokens left after this call (rounded down: the bucket refills continuously). */
  remaining: number;
  /**
   * When not ok: how long until `cost` tokens will be available (ms, rounded
   * up, so a take after this wait succeeds unless others took first); 0 when
   * ok; Infinity when `cost` exceeds the burst (never).
   */
  retryAfterMs: number;
}

export type Unsubscribe = () => Promise<void>;

export interface Cache {
  readonly kind: 'redis' | 'memory';

  get(key: string): Promise<string | undefined>;
  /** Sets with a time to live (ms, > 0). */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  del(key: string): Promise<void>;

  /**
   * Token bucket, atomic across instances: a bucket of `burst` tokens that
   * refills at `ratePerSecond`; takes `cost` if available. A cost above the
   * burst is never ok. The bucket state expires once it would be full again.
   */
  take(key: string, cost: number, ratePerSecond: number, burst: number): Promise<TakeResult>;
  /**
   * Gives `n` tokens back to a bucket (never beyond `burst`), atomically:
   * a reservation taken with take() that turned out not to be spent.
   */
  refund(key: string, n: number, ratePerSecond: number, burst: number): Promise<void>;

  /**
   * Counts events in a fixed window: adds `n` (default 1; 0 reads) and
   * resolves with the count in the current window (the first call starts it).
   */
  hit(key: string, windowMs: number, n?: number): Promise<number>;

  /** Marks an id (a session, a token) revoked for `ttlMs` (its remaining lifetime). */
  revoke(id: string, ttlMs: number): Promise<void>;
  isRevoked(id: string): Promise<boolean>;

  /** Sets `key` only when absent, for `ttlMs`: true when this call set it (e.g. an alert left its cooldown). */
  acquire(key: string, ttlMs: number): Promise<boolean>;

  /** Delivers `message` to every subscriber of `channel` on every instance (this one included). */
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once subscribed; messages arrive in publish order per publisher. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe>;

  /** Resolves when the backend answers. */
  health(): Promise<void>;
  close(): Promise<void>;
}
