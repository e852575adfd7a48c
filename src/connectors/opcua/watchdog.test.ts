import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Watchdog } from './watchdog.js';

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('silence longer than the timeout is death, told once; feeding keeps it alive', async () => {
  let now = 0;
  const dead: number[] = [];
  const w = new Watchdog(100, (silent) => dead.push(silent), () => now);
  now = 90;
  w.feed();
  now = 180;
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(dead, [], 'fed 90 ms ago');
  now = 191;
  await until(() => dead.length > 0);
  assert.deepEqual(dead, [101]);
  now = 1000;
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(dead, [101], 'told once, then stopped');
  w.stop();
});
