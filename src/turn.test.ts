import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TurnDeferral } from './turn.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Spins until `ms` have passed on performance.now(): the loop stays in this turn, as under a flood of events. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('work gathered in one turn runs once, at the end of the turn', async () => {
  let runs = 0;
  const d = new TurnDeferral(() => runs++);
  for (let i = 0; i < 100; i++) d.added();
  assert.equal(runs, 0, 'not while the turn goes on');
  await nextTurn();
  assert.equal(runs, 1);
  await nextTurn();
  assert.equal(runs, 1, 'nothing pending, nothing run');
  d.added();
  await nextTurn();
  assert.equal(runs, 2, 'a later turn gets its own run');
});

test('in a turn that goes on, work older than maxAgeMs runs when more is added, not at the end of the turn', async () => {
  const groups: number[] = [];
  let gathered = 0;
  const d = new TurnDeferral(() => {
    groups.push(gathered);
    gathered = 0;
  }, 5);
  gathered++;
  d.added();
  gathered++;
  d.added();
  assert.deepEqual(groups, [], 'young: waits');
  busyFor(6);
  gathered++;
  d.added();
  assert.deepEqual(groups, [3], 'old: the add ran the group at once');
  gathered++;
  d.added();
  assert.deepEqual(groups, [3], 'a new group starts young');
  await nextTurn();
  assert.deepEqual(groups, [3, 1], 'and ends with the turn');
});

test('flush runs the work now, also work never announced by added(); the end of the turn then finds nothing left', async () => {
  let runs = 0;
  const d = new TurnDeferral(() => runs++);
  d.flush();
  assert.equal(runs, 1, 'a group full at its first item has no added() before its flush');
  d.added();
  d.flush();
  assert.equal(runs, 2);
  await nextTurn();
  assert.equal(runs, 2, 'the end of the turn finds nothing left');
});
