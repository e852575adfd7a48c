import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readBlock } from './bisect.js';
import { type ResolvedRegister, resolveRegister } from './config.js';
import { QuarantineTracker, planPoll } from './quarantine.js';

const reg = (name: string, address: number): ResolvedRegister => resolveRegister({ name, table: 'holding', address, type: 'uint16' });
const refused = (name: string, address: number) => ({ name, table: 'holding' as const, address, code: 2, error: 'illegal data address (exception 2)' });

function clock(t = 1_000_000) {
  return { t, now() { return this.t; } };
}

/** Polls every `stepMs` until something is due: how many polls that took, and what. */
function pollUntilDue(q: QuarantineTracker, c: { t: number }, stepMs: number): [number, string[]] {
  for (let polls = 1; polls <= 10_000; polls++) {
    c.t += stepMs;
    const due = q.beginPoll();
    if (due.length > 0) return [polls, due];
  }
  return [Number.POSITIVE_INFINITY, []];
}

describe('Modbus quarantine policy', () => {
  test('due after 60 polls and 10 minutes, whichever is later: fast polling waits for the time', () => {
    const c = clock();
    const q = new QuarantineTracker({ now: () => c.now() });
    q.beginPoll();
    q.hold(refused('x', 5));
    assert.ok(q.has('x'));
    const [polls, due] = pollUntilDue(q, c, 1000); // a 1 s interval
    assert.equal(polls, 600, '10 minutes at 1 s: the time decides');
    assert.deepEqual(due, ['x']);
    assert.deepEqual(q.beginPoll(), [], 'not due again in the next poll');
  });

  test('slow polling waits for the 60 polls', () => {
    const c = clock();
    const q = new QuarantineTracker({ now: () => c.now() });
    q.hold(refused('x', 5));
    const [polls] = pollUntilDue(q, c, 60_000); // a 1 min interval
    assert.equal(polls, 60, '60 polls at 1 min: the polls decide');
  });

  test('refused again: held from then on, retries counted, first time kept; read again: released', () => {
    const c = clock(5000);
    const q = new QuarantineTracker({ retryPolls: 2, retryMs: 100, now: () => c.now() });
    q.hold(refused('x', 5));
    c.t += 100;
    q.beginPoll();
    assert.deepEqual(q.beginPoll(), ['x']);
    q.hold({ ...refused('x', 5), code: 3, error: 'illegal data value (exception 3)' });
    assert.deepEqual(q.list(), [{ ...refused('x', 5), code: 3, error: 'illegal data value (exception 3)', sinceMs: 5000, retries: 1 }]);
    c.t += 100;
    assert.deepEqual(q.beginPoll(), [], 'the clock restarted at the refused retry');
    assert.deepEqual(q.beginPoll(), ['x']);
    assert.equal(q.release('x'), true);
    assert.equal(q.release('x'), false);
    assert.equal(q.size, 0);
  });

  test('a retry whose poll failed waits for its next turn', () => {
    const c = clock();
    const q = new QuarantineTracker({ retryPolls: 1, retryMs: 0, now: () => c.now() });
    q.hold(refused('x', 5));
    assert.deepEqual(q.beginPoll(), ['x']);
    // (the poll failed: neither hold nor release)
    assert.deepEqual(q.beginPoll(), ['x'], 'retryPolls 1: the next poll');
  });
});

describe('Modbus poll plan with quarantine', () => {
  test('held registers are left out of the plan, and read on their own when due; record releases and holds', async () => {
    const c = clock();
    const q = new QuarantineTracker({ retryPolls: 3, retryMs: 0, now: () => c.now() });
    const regs = [reg('a', 0), reg('b', 1), reg('x', 2), reg('c', 3)];
    let bad = new Set([2]);
    const requests: Array<[number, number]> = [];
    const read = async (_t: string, address: number, count: number) => {
      requests.push([address, count]);
      for (let i = address; i < address + count; i++) if (bad.has(i)) throw Object.assign(new Error('x'), { modbusCode: 2 });
      return Array.from({ length: count }, (_, i) => address + i);
    };
    async function poll(): Promise<Array<[number, number]>> {
      requests.length = 0;
      for (const b of planPoll(regs, q)) q.record(await readBlock(b, read));
      return [...requests];
    }

    await poll();
    assert.ok(q.has('x'));
    assert.deepEqual(await poll(), [
      [0, 2],
      [3, 1],
    ], 'x left out: the rest in two requests, no bisection');
    assert.deepEqual(await poll(), [
      [0, 2],
      [3, 1],
    ]);
    assert.deepEqual(await poll(), [
      [0, 2],
      [3, 1],
      [2, 1],
    ], 'due: x alone, after the plan');
    assert.equal(q.list()[0]?.retries, 1);
    bad = new Set();
    for (let i = 0; i < 2; i++) await poll();
    assert.deepEqual(await poll(), [
      [0, 2],
      [3, 1],
      [2, 1],
    ]);
    assert.equal(q.has('x'), false, 'read again: released');
    assert.deepEqual(await poll(), [[0, 4]], 'back in the plan');
  });
});
