// The registers a device refused (./bisect.ts), per device: left out of its
// read plans so that one bad register does not cost a bisection every poll,
// and tried again rarely, since firmware updates and reconfigured devices do
// start answering.
//
// Policy: a register held since poll p at time t is due again once at least
// `retryPolls` polls AND `retryMs` have passed, whichever is later: at a 1 s
// interval 60 polls take a minute, so the 10 minutes decide; at a 1 min
// interval 10 minutes are 10 polls, so the 60 polls (an hour) decide. A
// retry reads the register on its own (`planPoll`), so a refusal costs one
// request and disturbs no block; refused again, it is held again from then;
// read, it is released. The clock is injected (tests); polls are counted
// by `beginPoll`.

import type { Quarantined } from './bisect.js';
import { type Block, type PlanOptions, type Span, blockOf, plan } from './plan.js';

export interface QuarantinePolicy {
  /** Default 60. */
  retryPolls?: number;
  /** Default 600 000 (10 minutes). */
  retryMs?: number;
  /** Default Date.now. */
  now?: () => number;
}

interface Held {
  entry: Quarantined;
  sincePoll: number;
  sinceMs: number;
  /** When first quarantined (kept across failed retries). */
  firstMs: number;
  retries: number;
}

export interface QuarantineEntry extends Quarantined {
  /** Unix ms when first quarantined. */
  sinceMs: number;
  /** Retries that were refused again. */
  retries: number;
}

export class QuarantineTracker {
  private readonly held = new Map<string, Held>();
  private polls = 0;
  /** Changes whenever a register is held or released: a plan made at one version holds until the next. */
  version = 0;
  private readonly retryPolls: number;
  private readonly retryMs: number;
  private readonly now: () => number;

  constructor(p: QuarantinePolicy = {}) {
    this.retryPolls = p.retryPolls ?? 60;
    this.retryMs = p.retryMs ?? 600_000;
    this.now = p.now ?? Date.now;
  }

  get size(): number {
    return this.held.size;
  }

  /** Whether register `name` is held (left out of the plan). */
  has(name: string): boolean {
    return this.held.has(name);
  }

  /**
   * Counts one poll and returns the names due for a retry in it. Their
   * clock restarts now, so a retry that neither reads nor is refused (the
   * poll failed) waits for the next turn.
   */
  beginPoll(): string[] {
    this.polls++;
    const now = this.now();
    const due: string[] = [];
    for (const [name, h] of this.held) {
      if (this.polls - h.sincePoll >= this.retryPolls && now - h.sinceMs >= this.retryMs) {
        due.push(name);
        h.sincePoll = this.polls;
        h.sinceMs = now;
      }
    }
    return due;
  }

  /** Holds a refused register (again: its clock restarts, its retries count one more). */
  hold(q: Quarantined): void {
    const now = this.now();
    const h = this.held.get(q.name);
    if (h === undefined) this.version++;
    if (h === undefined) this.held.set(q.name, { entry: q, sincePoll: this.polls, sinceMs: now, firstMs: now, retries: 0 });
    else this.held.set(q.name, { entry: q, sincePoll: this.polls, sinceMs: now, firstMs: h.firstMs, retries: h.retries + 1 });
  }

  /** Releases a register that read; true if it was held. */
  release(name: string): boolean {
    if (!this.held.delete(name)) return false;
    this.version++;
    return true;
  }

  /** Takes in what a poll read: registers that read are released, those refused held. */
  record(r: { chunks: ReadonlyArray<{ block: { registers: ReadonlyArray<{ name: string }> } }>; quarantined: readonly Quarantined[] }): void {
    if (this.held.size > 0) for (const c of r.chunks) for (const reg of c.block.registers) this.release(reg.name);
    for (const q of r.quarantined) this.hold(q);
  }

  /** What is held, for the connector's status (`quarantined`). */
  list(): QuarantineEntry[] {
    return [...this.held.values()].map((h) => ({ ...h.entry, sinceMs: h.firstMs, retries: h.retries }));
  }
}

/**
 * The requests of one poll of a device: its registers not held, planned
 * without bridging a gap over a held one; then each held register due for
 * a retry, on its own. Counts the poll. With `memo`, the plan of the
 * registers not held is reused while the quarantine is unchanged.
 */
export function planPoll<R extends Span & { name: string }>(registers: readonly R[], q: QuarantineTracker, o: PlanOptions = {}, memo?: PlanMemo<R>): Array<Block<R>> {
  const due = q.beginPoll();
  let blocks: Array<Block<R>>;
  if (memo !== undefined && memo.version === q.version && memo.blocks !== undefined) blocks = memo.blocks;
  else {
    const held = registers.filter((r) => q.has(r.name));
    blocks = plan(
      registers.filter((r) => !q.has(r.name)),
      { ...o, avoid: [...(o.avoid ?? []), ...held] },
    );
    if (memo !== undefined) {
      memo.version = q.version;
      memo.blocks = blocks;
    }
  }
  if (due.length === 0) return blocks;
  const retry = new Set(due);
  return [...blocks, ...registers.filter((r) => retry.has(r.name)).map((r) => blockOf([r]))];
}

/** A device's plan kept across polls: made again only when its quarantine changed (`version`). */
export interface PlanMemo<R extends Span> {
  version: number;
  blocks: Array<Block<R>> | undefined;
}
