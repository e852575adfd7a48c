// The shared cache (interface and semantics: types.ts). Two backends, one
// conformance suite (conformance.ts), run against both in index.test.ts:
//
// - memory.ts: the default, in process. Expiry on a monotonic clock, lazy
//   plus a periodic unref'd sweep; at most `maxEntries` entries per table
//   (values, buckets, windows, revocations): values, buckets and windows
//   evict the least recently written, revocations are never evicted (revoke()
//   rejects while full). Pub/sub delivered by microtask, in publish order.
// - redis.ts: --redis URL, for many instances. One command connection, one
//   subscriber connection opened on the first subscribe(). take(), hit() and
//   revoke() are Lua scripts, take() on the server's clock (TIME), so
//   instances with skewed clocks agree; acquire() is SET NX PX.
//
// Edge cases, both backends:
// - TTLs and windows are whole milliseconds (rounded up) and must be > 0;
//   bad arguments throw RangeError before any I/O.
// - take(): cost 0 always succeeds; cost > burst is never ok and its
//   retryAfterMs is Infinity; `remaining` counts whole tokens. A bucket that
//   has not been used since it refilled holds no state. After waiting the
//   returned retryAfterMs, the same take succeeds (unless others took first).
// - acquire() shares the value namespace: get(key) sees '1', del(key)
//   releases it early.
// - revoke() never shortens an earlier revocation of the same id.
// - Pub/sub is at most once: messages published while a subscriber is not
//   connected (Redis restarting) are lost. After unsubscribe() resolves (in
//   fact once it is called) its callback is not called again. A callback
//   that throws is logged and does not affect other subscribers.
// - Redis unreachable: every call rejects within a few seconds (at once when
//   the connection is refused, after commandTimeoutMs when Redis hangs) with
//   SentioError SENTIO_ERR_STORE_UNAVAILABLE "Redis unavailable at ...";
//   nothing is queued or replayed later. The client reconnects (and
//   re-subscribes) by itself when Redis is back.

import type { Logger } from '../log/index.js';
import { MemoryCache } from './memory.js';
import type { Cache } from './types.js';

export type { Cache, TakeResult, Unsubscribe } from './types.js';
export { MemoryCache, type MemoryCacheOptions } from './memory.js';
export type { RedisCache, RedisCacheOptions } from './redis.js';

export interface OpenCacheOptions {
  /** redis:// URL; the in-memory cache when absent. */
  redis?: string;
  /** Prefix of Redis keys and channels; default 'sentio:'. */
  prefix?: string;
  logger?: Logger;
}

/** Opens the configured cache; for Redis, resolves once it answers PING and rejects (SENTIO_ERR_STORE_UNAVAILABLE) when it does not. */
export async function openCache(opts: OpenCacheOptions = {}): Promise<Cache> {
  if (opts.redis !== undefined) {
    // Loaded only when configured: an edge gateway on the in-memory cache never pays for the Redis client.
    const { RedisCache } = await import('./redis.js');
    return RedisCache.open({ url: opts.redis, ...(opts.prefix !== undefined && { prefix: opts.prefix }), ...(opts.logger && { logger: opts.logger }) });
  }
  return new MemoryCache(opts.logger ? { logger: opts.logger } : {});
}
