// Argument checks shared by both cache backends, so a bad call fails the same
// way (a RangeError, before any I/O) whatever the backend.

export function checkTtl(ttlMs: number, what = 'ttlMs'): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`${what} must be a finite number > 0, got ${ttlMs}`);
  // Both backends keep whole milliseconds (Redis PX takes an integer).
  return Math.ceil(ttlMs);
}

export function checkBucket(cost: number, ratePerSecond: number, burst: number): void {
  if (!Number.isFinite(cost) || cost < 0) throw new RangeError(`cost must be a finite number >= 0, got ${cost}`);
  if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) throw new RangeError(`ratePerSecond must be a finite number > 0, got ${ratePerSecond}`);
  if (!Number.isFinite(burst) || burst <= 0) throw new RangeError(`burst must be a finite number > 0, got ${burst}`);
}

/**
 * Floating-point slack when comparing tokens to a cost: after waiting exactly
 * the advertised retryAfterMs, `elapsed * rate` may fall short of the deficit
 * by a rounding error; the take must still succeed. The Lua script uses the
 * same value.
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
