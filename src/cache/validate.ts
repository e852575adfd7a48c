// Argument checks shared by both cache backends, so a bad call fails the same
// way (a RangeError, before any I/O) whatever the backend.

export function checkTtl(ttlMs: number, what = 'ttlMs'): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`${what} must be a finite number > 0, got ${ttlMs}`);
  // Both backends keep whole milliseconds (Redis PX takes an integer).
  return Math.ceil(ttlMs);
}

/** A count added to a window: a whole number >= 0 (0 reads the window). */
export function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`n must be a whole number >= 0, got ${n}`);
}

export function checkBucket(cost: number, ratePerSecond: number, burst: number): void {
  if (!Number.isFinite(cost) || cost < 0) throw new RangeError(`cost must be a finite number >= 0, got ${cost}`);
  if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) throw new RangeError(`ratePerSecond must be a finite number > 0, got ${ratePerSecond}`);
  if (!Number.isFinite(burst) || burst <= 0) throw new RangeError(`burst must be a finite number > 0, got ${burst}`);
}

/**
 * Floating-point slack: a take succeeds when tokens + TOKEN_EPSILON >= cost,
 * and retryAfterMs is the least whole ms after which that holds, so after
 * waiting exactly the advertised time a rounding error in `elapsed * rate`
 * cannot make the take fail (nor add a millisecond to the wait). The Lua
 * script in redis.ts receives the same value.
 */
export const TOKEN_EPSILON = 1e-9;

/** Runs a subscriber's callback so that a throwing handler cannot break delivery to the others. */
export function deliver(onMessage: (message: string) => void, message: string, onError: (err: unknown) => void): void {
  try {
    onMessage(message);
  } catch (err) {
    onError(err);
  }
}
