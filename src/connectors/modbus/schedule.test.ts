import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PollScheduler, type Timers } from './schedule.js';

/** A clock that moves only when told, and timers that fire only when told. */
class FakeTimers implements Timers {
  t: number;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  constructor(t = 0) {
    this.t = t;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  get armed(): number {
    return this.pending.size;
  }
  /** When the next timer fires; throws if none is armed. */
  nextAt(): number {
    const all = [...this.pending.values()];
    if (all.length === 0) throw new Error('no timer armed');
    return Math.min(...all.map((p) => p.at));
  }
  /** Fires the earliest timer, at its time or `late` ms after. */
  fire(late = 0): void {
    const [id, p] = [...this.pending.entries()].sort((a, b) => a[1].at - b[1].at)[0]!;
    this.pending.delete(id);
    this.t = Math.max(this.t, p.at + late);
    p.fn();
  }
}

/** A poll that takes durations[i] ms of the fake clock (0 when not given), recording its slot and when it began. */
function polls(timers: FakeTimers, durations: number[] = []) {
  const slots: number[] = [];
  const began: number[] = [];
  return {
    slots,
    began,
    poll: async (slot: number) => {
      slots.push(slot);
      began.push(timers.now());
      timers.t += durations[slots.length - 1] ?? 0;
    },
  };
}

describe('Modbus poll schedule', () => {
  test('polls on the grid t0 + k × interval, whatever each poll takes', async () => {
    const timers = new FakeTimers(1000);
    const p = polls(timers, [300, 999, 0, 1000]);
    const s = new PollScheduler({ intervalMs: 1000, poll: p.poll, timers });
    s.start();
    for (let i = 0; i < 6; i++) {
      timers.fire();
      await s.idle();
    }
    assert.deepEqual(p.slots, [1000, 2000, 3000, 4000, 5000, 6000]);
    assert.deepEqual(p.began, p.slots, 'each began on its slot');
    assert.equal(s.late, 0, 'a poll ending exactly on the next slot is on time');
    assert.equal(s.polls, 6);
    await s.stop();
  });

  test('an overrun skips the slots that began meanwhile, one late count each, then back on the grid', async () => {
    const timers = new FakeTimers(0);
    const p = polls(timers, [0, 2500, 1001, 0, 0]);
    const s = new PollScheduler({ intervalMs: 1000, poll: p.poll, timers });
    s.start();
    for (let i = 0; i < 5; i++) {
      timers.fire();
      await s.idle();
    }
    // 0; 1000 runs to 3500 (2000 and 3000 skipped); 4000 runs to 5001 (5000 skipped); 6000; 7000
    assert.deepEqual(p.slots, [0, 1000, 4000, 6000, 7000]);
    assert.deepEqual(p.began, p.slots, 'no bunching: never a poll right after the slow one');
    assert.equal(s.late, 3);
    assert.equal(timers.nextAt(), 8000);
    await s.stop();
  });

  test('a timer that fires late polls the slot it is in at once; wholly passed slots are late', async () => {
    const timers = new FakeTimers(0);
    const p = polls(timers);
    const s = new PollScheduler({ intervalMs: 1000, poll: p.poll, timers });
    s.start();
    timers.fire();
    await s.idle();
    timers.fire(30); // 1030: still slot 1000
    await s.idle();
    timers.fire(2500); // 4500: slots 2000 and 3000 passed wholly
    await s.idle();
    assert.deepEqual(p.slots, [0, 1000, 4000]);
    assert.deepEqual(p.began, [0, 1030, 4500]);
    assert.equal(s.late, 2);
    assert.equal(timers.nextAt(), 5000);
    await s.stop();
  });

  test('a given t0 aligns the grid; starting after it joins the next slot', async () => {
    const timers = new FakeTimers(12_345);
    const p = polls(timers);
    const s = new PollScheduler({ intervalMs: 10_000, t0: 0, poll: p.poll, timers });
    s.start();
    assert.equal(timers.nextAt(), 20_000);
    timers.fire();
    await s.idle();
    timers.fire();
    await s.idle();
    assert.deepEqual(p.slots, [20_000, 30_000]);
    assert.equal(s.late, 0);
    await s.stop();
  });

  test('a poll that rejects is reported and the grid goes on', async () => {
    const timers = new FakeTimers(0);
    const errors: unknown[] = [];
    let n = 0;
    const s = new PollScheduler({
      intervalMs: 100,
      timers,
      onError: (e) => errors.push(e),
      poll: async () => {
        if (n++ === 0) throw new Error('timed out');
      },
    });
    s.start();
    timers.fire();
    await s.idle();
    timers.fire();
    await s.idle();
    assert.equal(s.polls, 2);
    assert.deepEqual(errors.map((e) => (e as Error).message), ['timed out']);
    await s.stop();
  });

  test('stop waits for the poll in flight and arms nothing more', async () => {
    const timers = new FakeTimers(0);
    let release!: () => void;
    let ended = false;
    const s = new PollScheduler({
      intervalMs: 100,
      timers,
      poll: async () => {
        await new Promise<void>((r) => (release = r));
        ended = true;
      },
    });
    s.start();
    timers.fire();
    const stopped = s.stop();
    let stoppedFirst = false;
    void stopped.then(() => (stoppedFirst = !ended));
    release();
    await stopped;
    assert.equal(ended, true);
    assert.equal(stoppedFirst, false, 'stop resolved only after the poll ended');
    assert.equal(timers.armed, 0);
    s.start();
    assert.equal(timers.armed, 1, 'can start again');
    await s.stop();
    assert.equal(timers.armed, 0);
  });

  test('an interval that is not positive is refused', () => {
    assert.throws(() => new PollScheduler({ intervalMs: 0, poll: async () => {} }), RangeError);
  });
});
