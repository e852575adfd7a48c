// The poll clock of a device: polls on a fixed grid, t0 + k × intervalMs,
// one at a time, so that samples are evenly spaced and never drift by the
// time a poll takes.
//
// - A poll is given its slot's time (the samples' timestamp).
// - A poll that overruns the next slot does not make polls bunch up: the
//   slots that began while it ran are skipped, each counted as `late`, and
//   the next poll is at the next slot still ahead. A poll ending exactly on
//   a slot is on time.
// - A timer that fires late (a blocked event loop) polls the slot it is in
//   at once, counting the slots wholly passed as late.
// - A poll that rejects is reported to `onError` and the grid goes on.
// Timers and clock are injected (tests).

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ScheduleOptions {
  intervalMs: number;
  poll: (slotMs: number) => Promise<void>;
  timers?: Timers;
  /** The grid's origin; default the time of start() (the first poll at once). */
  t0?: number;
  onError?: (err: unknown) => void;
  /** Told of slots skipped (late), as they are counted. */
  onLate?: (slots: number) => void;
}

export class PollScheduler {
  private readonly timers: Timers;
  private t0 = 0;
  /** The index of the slot polled, or next to poll. */
  private slot = 0;
  private timer: unknown;
  private running = false;
  private current: Promise<void> = Promise.resolve();
  /** Slots skipped because a poll (or the timer) was late. */
  late = 0;
  polls = 0;

  constructor(private readonly o: ScheduleOptions) {
    if (!(o.intervalMs > 0)) throw new RangeError(`intervalMs must be positive, not ${o.intervalMs}`);
    this.timers = o.timers ?? realTimers;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const now = this.timers.now();
    this.t0 = this.o.t0 ?? now;
    this.slot = Math.max(0, Math.ceil((now - this.t0) / this.o.intervalMs));
    this.arm();
  }

  /** Stops the grid; resolves once a poll in flight has ended. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.current;
  }

  /** Resolves once the poll in flight (if any) has ended and the next is armed. */
  idle(): Promise<void> {
    return this.current;
  }

  private slotMs(k: number): number {
    return this.t0 + k * this.o.intervalMs;
  }

  private arm(): void {
    this.timer = this.timers.setTimeout(() => this.fire(), Math.max(0, this.slotMs(this.slot) - this.timers.now()));
  }

  private fire(): void {
    this.timer = undefined;
    if (!this.running) return;
    const inSlot = Math.floor((this.timers.now() - this.t0) / this.o.intervalMs);
    if (inSlot > this.slot) {
      this.skipped(inSlot - this.slot);
      this.slot = inSlot;
    }
    this.current = this.run(this.slotMs(this.slot));
  }

  private skipped(slots: number): void {
    if (slots <= 0) return;
    this.late += slots;
    this.o.onLate?.(slots);
  }

  private async run(slotMs: number): Promise<void> {
    this.polls++;
    try {
      await this.o.poll(slotMs);
    } catch (err) {
      this.o.onError?.(err);
    }
    if (!this.running) return;
    const ahead = Math.ceil((this.timers.now() - this.t0) / this.o.intervalMs);
    const next = Math.max(this.slot + 1, ahead);
    this.skipped(next - (this.slot + 1));
    this.slot = next;
    this.arm();
  }
}
