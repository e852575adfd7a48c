// Work deferred to the end of this turn of the event loop, with a bound on
// how long it may wait there.
//
// Small batches are gathered "for the rest of the turn" and handled together
// (frames parsed in one native call, queue records written in one writev,
// token lookups made in one query). The end of the turn is setImmediate,
// after libuv's poll phase, and that phase keeps taking socket events while
// they come: up to 48 rounds of 1,024 events before it returns. With 10,000
// busy WebSocket connections one turn lasted 1 to 2 s here (gaps between
// timer runs in a CPU profile of load-tests/fleet.ts), and everything
// deferred to its end waited that long. So a deferral also ends when work is
// added to it once its oldest work has waited maxAgeMs: under a flood of
// events, groups are cut by age; in a quiet loop, the end of the turn comes
// first. Not much shorter: at 1 ms the fleet's groups got so small that the
// main thread saturated (p99 ack 4.6 s against 1.2 to 2.5 s at 10 ms or
// without the bound, in runs of the same hour).

/** How long gathered work may wait for the end of the turn. */
export const TURN_MAX_AGE_MS = 10;

export class TurnDeferral {
  /** performance.now() when the pending work began; -1: nothing pending. */
  private since = -1;
  private scheduled = false;

  constructor(
    /** Takes and handles everything gathered so far. */
    private readonly run: () => void,
    private readonly maxAgeMs = TURN_MAX_AGE_MS,
  ) {}

  /** Call after gathering work: it runs at the end of the turn, or now when the pending work is older than maxAgeMs. */
  added(): void {
    const now = performance.now();
    if (this.since < 0) {
      this.since = now;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.atEndOfTurn);
      }
    } else if (now - this.since >= this.maxAgeMs) this.flush();
  }

  /** Runs the work now (e.g. a group that is full), whether or not added() was called for it. */
  flush(): void {
    this.since = -1;
    this.run();
  }

  private readonly atEndOfTurn = (): void => {
    this.scheduled = false;
    if (this.since >= 0) this.flush();
  };
}
