// One memory budget for every write request being received, decompressed
// and stored at once. Per-request limits alone do not bound memory: 48
// concurrent gzip bombs, each refused at --max-decompressed-bytes, used to
// inflate 128 MiB apiece first (7 GB). Here each request takes its bytes from
// the shared budget before it allocates them (the buffer a body is read
// into, each chunk zlib hands out, the copy that owns the result) and gives
// them back when it is answered. A request that finds the budget spent is
// refused at once with SENTIO_ERR_OVERLOADED (503, Retry-After), whatever
// it would have been, and holds nothing further.

import { SentioError } from '../errors.js';

/** retryAfterMs of an OVERLOADED refusal: requests in flight finish in milliseconds to seconds. */
const RETRY_AFTER_MS = 1000;

export class MemoryBudget {
  private used = 0;
  private peak = 0;

  constructor(
    /** Bytes; Infinity: no budget. */
    readonly capacity: number,
  ) {}

  /** Bytes held now, over all requests. */
  get inUse(): number {
    return this.used;
  }

  /** Most bytes held at once since the last call (for the metrics scrape). */
  takePeak(): number {
    const p = this.peak;
    this.peak = this.used;
    return p;
  }

  /** A hold for one request: its bytes are taken as it allocates them and all given back by `release`. */
  hold(): BudgetHold {
    return new BudgetHold(this);
  }

  /** @internal */
  tryTake(n: number): boolean {
    if (this.used + n > this.capacity) return false;
    this.used += n;
    if (this.used > this.peak) this.peak = this.used;
    return true;
  }

  /** @internal */
  give(n: number): void {
    this.used -= n;
  }

  overloaded(): SentioError {
    return new SentioError('SENTIO_ERR_OVERLOADED', `the gateway holds ${this.capacity} bytes of write requests being decoded and stored (--max-inflight-body-bytes); retry shortly`, {
      details: { retryAfterMs: RETRY_AFTER_MS },
    });
  }
}

export class BudgetHold {
  private held = 0;

  constructor(private readonly budget: MemoryBudget) {}

  get bytes(): number {
    return this.held;
  }

  /** Takes `n` more bytes, or throws SENTIO_ERR_OVERLOADED (holding nothing more). */
  take(n: number): void {
    if (!this.budget.tryTake(n)) throw this.budget.overloaded();
    this.held += n;
  }

  /** Gives back `n` of the bytes held (a buffer that was replaced by a smaller one). */
  give(n: number): void {
    const m = Math.min(n, this.held);
    this.held -= m;
    this.budget.give(m);
  }

  /** Gives back everything; safe to call more than once. */
  release(): void {
    this.give(this.held);
  }
}

/** A hold on no budget, for callers that have none. */
export const unbounded = new MemoryBudget(Number.POSITIVE_INFINITY);
