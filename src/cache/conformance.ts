// The conformance suite every Cache backend passes (index.test.ts runs it
// against memory and a real Redis). `open` makes a fresh pair of caches on
// one shared backend, as two gateway instances would see it; each test opens
// its own pair, so tests do not share state. Waits are on conditions, each
// bounded; the only timed waits are the retryAfterMs a bucket advertises.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache } from './types.js';

export interface CachePair {
  /** Two caches on one backend (two "instances"). */
  a: Cache;
  b: Cache;
  close(): Promise<void>;
}

/** Polls `probe` every 10 ms until it holds; fails after `timeoutMs`. */
export async function eventually(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Waits at least `ms` by the monotonic clock (a timer may fire up to a millisecond early by it). */
async function atLeast(ms: number): Promise<void> {
  const until = performance.now() + ms;
  await sleep(ms);
  while (performance.now() < until) await sleep(1);
}

/** Subscribes and records what arrives. */
export async function collect(cache: Cache, channel: string): Promise<{ messages: string[]; unsubscribe: () => Promise<void> }> {
  const messages: string[] = [];
  const unsubscribe = await cache.subscribe(channel, (m) => messages.push(m));
  return { messages, unsubscribe };
}

export function cacheConformance(name: string, open: () => Promise<CachePair>): void {
  /** Runs `body` with a fresh pair and closes it, whatever happens. */
  const withPair = (body: (a: Cache, b: Cache) => Promise<void>) => async () => {
    const pair = await open();
    try {
      await body(pair.a, pair.b);
    } finally {
      await pair.close();
    }
  };

  describe(`cache conformance: ${name}`, () => {
    test('get, set and del, seen by both instances', withPair(async (a, b) => {
      assert.equal(await a.get('k'), undefined);
      await a.set('k', 'v1', 60_000);
      assert.equal(await a.get('k'), 'v1');
      assert.equal(await b.get('k'), 'v1');
      await b.set('k', 'v2 ünïcode', 60_000);
      assert.equal(await a.get('k'), 'v2 ünïcode');
      await b.del('k');
      assert.equal(await a.get('k'), undefined);
      await a.del('never-set'); // deleting a missing key is fine
      assert.equal(await a.get('other'), undefined);
    }));

    test('a value expires after its TTL, a longer one stays', withPair(async (a, b) => {
      await a.set('short', 'x', 50);
      await a.set('long', 'y', 60_000);
      assert.equal(await b.get('short'), 'x');
      await eventually('short-lived value gone', async () => (await b.get('short')) === undefined, 3000);
      assert.equal(await b.get('long'), 'y');
    }));

    test('bad TTLs and bucket arguments are refused before any I/O', withPair(async (a) => {
      await assert.rejects(a.set('k', 'v', 0), RangeError);
      await assert.rejects(a.set('k', 'v', -1), RangeError);
      await assert.rejects(a.set('k', 'v', Number.NaN), RangeError);
      await assert.rejects(a.hit('k', 0), RangeError);
      await assert.rejects(a.acquire('k', Infinity), RangeError);
      await assert.rejects(a.revoke('id', 0), RangeError);
      await assert.rejects(a.take('k', -1, 1, 1), RangeError);
      await assert.rejects(a.take('k', 1, 0, 1), RangeError);
      await assert.rejects(a.take('k', 1, 1, 0), RangeError);
      assert.equal(await a.get('k'), undefined);
    }));

    test('take(): a full bucket admits exactly its burst, then says how long to wait', withPair(async (a) => {
      for (let i = 4; i >= 0; i--) assert.deepEqual(await a.take('tb', 1, 1, 5), { ok: true, remaining: i, retryAfterMs: 0 });
      const r = await a.take('tb', 1, 1, 5);
      assert.equal(r.ok, false);
      assert.equal(r.remaining, 0);
      // One token at 1/s, minus what refilled since the last take.
      assert.ok(r.retryAfterMs > 500 && r.retryAfterMs <= 1000, `retryAfterMs ${r.retryAfterMs}`);
      // Other keys have their own bucket.
      assert.equal((await a.take('tb-other', 5, 1, 5)).ok, true);
    }));

    test('take(): refills at the rate; waiting retryAfterMs is enough, and needed', withPair(async (a, b) => {
      assert.deepEqual(await a.take('tb', 4, 20, 4), { ok: true, remaining: 0, retryAfterMs: 0 });
      const r = await b.take('tb', 2, 20, 4); // 2 tokens at 20/s: 100 ms less what refilled since
      assert.equal(r.ok, false);
      assert.ok(r.retryAfterMs > 0 && r.retryAfterMs <= 100, `retryAfterMs ${r.retryAfterMs}`);
      await atLeast(r.retryAfterMs);
      const again = await b.take('tb', 2, 20, 4);
      assert.equal(again.ok, true, `after waiting ${r.retryAfterMs} ms: ${JSON.stringify(again)}`);
      // Refilled state is capped at the burst.
      await eventually('bucket full again', async () => {
        const probe = await a.take('tb', 0, 20, 4);
        return probe.remaining === 4;
      }, 3000);
      assert.equal((await a.take('tb', 5, 20, 4)).ok, false);
      assert.equal((await a.take('tb', 4, 20, 4)).ok, true);
    }));

    test('take(): a cost above the burst is never ok and takes nothing; cost 0 always is', withPair(async (a) => {
      assert.deepEqual(await a.take('tb', 11, 1000, 10), { ok: false, remaining: 10, retryAfterMs: Infinity });
      assert.deepEqual(await a.take('tb', 0, 1, 10), { ok: true, remaining: 10, retryAfterMs: 0 });
      assert.deepEqual(await a.take('tb', 10, 1, 10), { ok: true, remaining: 0, retryAfterMs: 0 });
      assert.equal((await a.take('tb', 0, 1, 10)).ok, true);
      assert.equal((await a.take('tb', 11, 1, 10)).retryAfterMs, Infinity);
      // Fractional rates and costs.
      assert.deepEqual(await a.take('frac', 0.5, 0.5, 1.5), { ok: true, remaining: 1, retryAfterMs: 0 });
      assert.deepEqual(await a.take('frac', 1, 0.5, 1.5), { ok: true, remaining: 0, retryAfterMs: 0 });
      const r = await a.take('frac', 0.5, 0.5, 1.5);
      assert.equal(r.ok, false);
      assert.ok(r.retryAfterMs > 500 && r.retryAfterMs <= 1000, `retryAfterMs ${r.retryAfterMs}`);
    }));

    test('refund(): gives reserved tokens back, from either instance, never beyond the burst', withPair(async (a, b) => {
      assert.equal((await a.take('rf', 3, 0.001, 3)).ok, true);
      assert.equal((await a.take('rf', 1, 0.001, 3)).ok, false);
      await b.refund('rf', 2, 0.001, 3);
      assert.deepEqual(await a.take('rf', 0, 0.001, 3), { ok: true, remaining: 2, retryAfterMs: 0 });
      await b.refund('rf', 5, 0.001, 3); // capped
      assert.equal((await a.take('rf', 3, 0.001, 3)).ok, true);
      assert.equal((await a.take('rf', 1, 0.001, 3)).ok, false, 'a refund beyond the burst added nothing');
      await a.refund('fresh', 1, 1, 3); // a bucket never taken from is full already
      assert.deepEqual(await a.take('fresh', 0, 1, 3), { ok: true, remaining: 3, retryAfterMs: 0 });
      await assert.rejects(a.refund('rf', -1, 1, 3), RangeError);
    }));

    test('take(): 50 concurrent takes from two instances admit exactly the burst of 10', withPair(async (a, b) => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).take('shared', 1, 0.001, 10)));
      assert.equal(results.filter((r) => r.ok).length, 10);
      assert.deepEqual(results.filter((r) => r.ok).map((r) => r.remaining).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.ok(results.filter((r) => !r.ok).every((r) => r.retryAfterMs > 0));
    }));

    test('hit(): counts per fixed window across instances, then starts a new one', withPair(async (a, b) => {
      assert.equal(await a.hit('w', 60_000), 1);
      assert.equal(await b.hit('w', 60_000), 2);
      assert.equal(await a.hit('w', 60_000), 3);
      assert.equal(await a.hit('w2', 60_000), 1);
      const counts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).hit('w3', 60_000)));
      assert.deepEqual(counts.sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1));
      // A short window: hits every 10 ms do not extend it; a later hit starts a new one at 1.
      assert.equal(await a.hit('short', 150), 1);
      let last = 1;
      await eventually('a new window', async () => {
        const n = await (last % 2 ? b : a).hit('short', 150);
        const restarted = n <= last;
        last = n;
        return restarted;
      }, 3000);
      assert.equal(last, 1);
    }));

    test('hit(): adds n across instances; 0 reads without changing the count', withPair(async (a, b) => {
      assert.equal(await a.hit('sum', 60_000, 0), 0);
      assert.equal(await a.hit('sum', 60_000, 4000), 4000);
      assert.equal(await b.hit('sum', 60_000, 2500), 6500);
      assert.equal(await b.hit('sum', 60_000, 0), 6500);
      assert.equal(await a.hit('sum', 60_000), 6501);
      await assert.rejects(a.hit('sum', 60_000, -1), RangeError);
      await assert.rejects(a.hit('sum', 60_000, 1.5), RangeError);
    }));

    test('revoke(): seen by the other instance, for its TTL; never shortened', withPair(async (a, b) => {
      assert.equal(await b.isRevoked('s1'), false);
      await a.revoke('s1', 60_000);
      assert.equal(await b.isRevoked('s1'), true);
      assert.equal(await b.isRevoked('s2'), false);
      await a.revoke('short', 40);
      await b.revoke('s1', 1); // shorter: ignored
      assert.equal(await a.isRevoked('short'), true);
      await eventually('short revocation over', async () => !(await b.isRevoked('short')), 3000);
      assert.equal(await a.isRevoked('s1'), true);
      // Revocations are their own namespace.
      assert.equal(await a.get('s1'), undefined);
    }));

    test('acquire(): once per TTL across instances; del() releases early', withPair(async (a, b) => {
      const got = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).acquire('cooldown', 60_000)));
      assert.equal(got.filter(Boolean).length, 1);
      assert.equal(await a.get('cooldown'), '1');
      await b.del('cooldown');
      assert.equal(await a.acquire('cooldown', 60_000), true);
      await a.set('taken', 'x', 60_000);
      assert.equal(await b.acquire('taken', 60_000), false);
      assert.equal(await b.get('taken'), 'x');
      assert.equal(await a.acquire('brief', 50), true);
      assert.equal(await b.acquire('brief', 50), false);
      await eventually('brief cooldown over', () => b.acquire('brief', 60_000), 3000);
      assert.equal(await a.acquire('brief', 60_000), false);
    }));

    test('publish/subscribe: both instances (the publisher too) get every message, in order', withPair(async (a, b) => {
      const atA = await collect(a, 'live');
      const atB = await collect(b, 'live');
      const other = await collect(a, 'elsewhere');
      const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
      // Not awaited one by one: order must hold for back-to-back publishes.
      await Promise.all(sent.map((m) => b.publish('live', m)));
      await eventually('all delivered', () => atA.messages.length === 200 && atB.messages.length === 200);
      assert.deepEqual(atA.messages, sent);
      assert.deepEqual(atB.messages, sent);
      assert.deepEqual(other.messages, []);
      await a.publish('nobody-listens', 'x');
    }));

    test('publish: callbacks run asynchronously, never inside publish()', withPair(async (a) => {
      const got = await collect(a, 'async');
      const p = a.publish('async', 'x');
      assert.deepEqual(got.messages, []);
      await p;
      await eventually('delivered', () => got.messages.length === 1);
    }));

    test('unsubscribe stops delivery to that callback only; a throwing callback harms no other', withPair(async (a, b) => {
      const first = await collect(a, 'ch');
      const second = await collect(a, 'ch');
      const remote = await collect(b, 'ch');
      await a.subscribe('ch', () => {
        throw new Error('a broken subscriber');
      });
      await b.publish('ch', 'one');
      await eventually('first message', () => first.messages.length === 1 && second.messages.length === 1 && remote.messages.length === 1);
      await first.unsubscribe();
      await first.unsubscribe(); // twice is harmless
      await b.publish('ch', 'two');
      await b.publish('ch', 'three');
      await eventually('later messages', () => second.messages.length === 3 && remote.messages.length === 3);
      assert.deepEqual(first.messages, ['one']);
      assert.deepEqual(second.messages, ['one', 'two', 'three']);
      // The last local subscriber leaving: the other instance still gets messages.
      await second.unsubscribe();
      await a.publish('ch', 'four');
      await eventually('remote still subscribed', () => remote.messages.length === 4);
      assert.deepEqual(second.messages, ['one', 'two', 'three']);
      // Subscribing again after everything was dropped works.
      const again = await collect(a, 'ch');
      await b.publish('ch', 'five');
      await eventually('resubscribed', () => again.messages.length === 1);
      assert.deepEqual(again.messages, ['five']);
    }));

    test('health() resolves; a closed cache rejects calls and stops delivery', withPair(async (a, b) => {
      await a.health();
      await b.health();
      const got = await collect(a, 'ch');
      await a.close();
      await a.close(); // twice is harmless
      await assert.rejects(a.get('k'));
      await assert.rejects(a.publish('ch', 'x'));
      await b.publish('ch', 'after close');
      const probe = await collect(b, 'ch');
      await b.publish('ch', 'marker');
      await eventually('marker at b', () => probe.messages.includes('marker'));
      assert.deepEqual(got.messages, []);
      await b.health();
    }));
  });
}
