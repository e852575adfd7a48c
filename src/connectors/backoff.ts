// Exponential backoff with full jitter (each wait is uniform in [0, cap),
// the cap doubling from `baseMs` up to `maxMs`), for every reconnect and
// retry of the connectors: many instances restarting together spread out
// instead of retrying in lockstep, and no failure loops tightly.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Uniform in [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly o: BackoffOptions) {
    if (!(o.baseMs > 0) || !(o.maxMs >= o.baseMs)) throw new RangeError(`backoff needs 0 < baseMs <= maxMs (got ${o.baseMs}, ${o.maxMs})`);
    this.random = o.random ?? Math.random;
  }

  /** Failures since the last success. */
  get failures(): number {
    return this.attempt;
  }

  /**
   * The wait before the next attempt, after a failure. At least a
   * millisecond, and never below a tenth of the cap: a run of unlucky draws
   * near 0 would otherwise retry almost at once.
   */
  next(): number {
    const cap = Math.min(this.o.maxMs, this.o.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(1, Math.round(cap * (0.1 + 0.9 * this.random())));
  }

  /** After a success: the next failure waits about baseMs again. */
  reset(): void {
    this.attempt = 0;
  }
}
