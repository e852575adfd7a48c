import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { SentioError } from '../errors.js';
import { freePort } from '../../test/services/index.js';
import { type RedisService, startRedis } from '../../test/services/redis.js';
import { type CachePair, cacheConformance, collect, eventually } from './conformance.js';
import { MemoryCache, openCache } from './index.js';
import { RedisCache } from './redis.js';

cacheConformance('memory', async () => {
  const a = new MemoryCache();
  const b = a.share();
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});

describe('memory cache', () => {
  test('openCache() without a Redis URL is the in-memory cache', async () => {
    const c = await openCache({});
    assert.equal(c.kind, 'memory');
    await c.close();
  });

  test('token bucket arithmetic on an injected clock: retryAfterMs is exact', async () => {
    let now = 1_000;
    const c = new MemoryCache({ now: () => now });
    try {
      assert.deepEqual(await c.take('k', 3, 2, 3), { ok: true, remaining: 0, retryAfterMs: 0 });
      assert.deepEqual(await c.take('k', 1, 2, 3), { ok: false, remaining: 0, retryAfterMs: 500 });
      now += 499;
      assert.deepEqual(await c.take('k', 1, 2, 3), { ok: false, remaining: 0, retryAfterMs: 1 });
      now += 1;
      assert.deepEqual(await c.take('k', 1, 2, 3), { ok: true, remaining: 0, retryAfterMs: 0 });
      // 0.3 tokens/s: a deficit of 1 token takes 3333.33 ms, so 3334.
      assert.deepEqual(await c.take('r', 1, 0.3, 1), { ok: true, remaining: 0, retryAfterMs: 0 });
      assert.equal((await c.take('r', 1, 0.3, 1)).retryAfterMs, 3334);
      now += 3333;
      assert.equal((await c.take('r', 1, 0.3, 1)).ok, false);
      now += 1;
      assert.equal((await c.take('r', 1, 0.3, 1)).ok, true);
      // The state expires once the bucket would be full again, and a full bucket keeps none.
      assert.equal(c.stats().buckets.entries, 2);
      now += 10_000;
      c.sweep();
      assert.equal(c.stats().buckets.entries, 0);
      assert.deepEqual(await c.take('k', 0, 2, 3), { ok: true, remaining: 3, retryAfterMs: 0 });
      assert.equal(c.stats().buckets.entries, 0);
      // A clock that steps back refills nothing (and does not crash).
      await c.take('k', 3, 2, 3);
      now -= 5_000;
      assert.equal((await c.take('k', 1, 2, 3)).ok, false);
    } finally {
      await c.close();
    }
  });

  test('expiry is lazy on read and swept periodically, without a timer per key', async () => {
    let now = 0;
    const c = new MemoryCache({ now: () => now, sweepIntervalMs: 20 });
    try {
      await c.set('a', '1', 100);
      await c.hit('w', 100);
      await c.revoke('r', 100);
      await c.take('t', 1, 1, 1);
      assert.deepEqual(Object.values(c.stats()).map((s) => s.entries), [1, 1, 1, 1]);
      now = 1000; // the bucket's state lasts until it would be full again: 1 token at 1/s
      assert.equal(await c.get('a'), undefined);
      assert.equal(c.stats().values.entries, 0); // dropped when read
      await eventually('swept', () => Object.values(c.stats()).every((s) => s.entries === 0), 2000);
    } finally {
      await c.close();
    }
  });

  test('bounded: full tables evict the least recently written; revocations refuse instead', async () => {
    const c = new MemoryCache({ maxEntries: 3 });
    try {
      for (const k of ['a', 'b', 'c']) await c.set(k, k, 60_000);
      await c.set('a', 'a2', 60_000); // rewritten: now the newest
      await c.set('d', 'd', 60_000);
      assert.equal(await c.get('b'), undefined);
      assert.deepEqual([await c.get('a'), await c.get('c'), await c.get('d')], ['a2', 'c', 'd']);
      assert.deepEqual(c.stats().values, { entries: 3, evictions: 1 });
      for (let i = 0; i < 10; i++) await c.hit(`w${i}`, 60_000);
      assert.deepEqual(c.stats().windows, { entries: 3, evictions: 7 });
      for (const id of ['x', 'y', 'z']) await c.revoke(id, 60_000);
      await assert.rejects(c.revoke('w', 60_000), (e: unknown) => e instanceof SentioError && e.code === 'SENTIO_ERR_STORE_UNAVAILABLE');
      assert.equal(await c.isRevoked('x'), true);
      await c.revoke('x', 120_000); // an existing id can still be extended
    } finally {
      await c.close();
    }
  });
});

describe('redis cache', () => {
  let redis: RedisService;
  let n = 0;
  const opened: RedisCache[] = [];
  /** Two caches on the server, under a prefix of their own so tests do not share keys. */
  const openPair = async (): Promise<CachePair> => {
    const prefix = `t${++n}:`;
    const a = await openCache({ redis: redis.url, prefix });
    const b = await openCache({ redis: redis.url, prefix });
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await redis.destroy();
  });

  cacheConformance('redis', openPair);

  test('openCache() with a URL connects to Redis; prefixes keep caches apart', async () => {
    const a = await openCache({ redis: redis.url, prefix: 'one:' });
    const b = await openCache({ redis: redis.url, prefix: 'two:' });
    try {
      assert.equal(a.kind, 'redis');
      await a.set('k', 'v', 60_000);
      assert.equal(await b.get('k'), undefined);
      const got = await collect(b, 'ch');
      await a.publish('ch', 'x');
      await b.publish('ch', 'y');
      await eventually('delivered', () => got.messages.length > 0);
      assert.deepEqual(got.messages, ['y']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('close() quits both connections', async () => {
    const probe = new Redis(redis.url);
    const ours = async () => {
      const list = (await probe.call('CLIENT', 'LIST')) as string;
      return list.split('\n').filter((l) => / name=sentio(-subscriber)? /.test(l)).length;
    };
    try {
      const before = await ours();
      const c = await openCache({ redis: redis.url, prefix: 'close:' });
      assert.equal(await ours(), before + 1);
      await c.subscribe('ch', () => {});
      assert.equal(await ours(), before + 2);
      await c.close();
      await eventually('connections gone', async () => (await ours()) === before, 3000);
    } finally {
      probe.disconnect();
    }
  });

  test('openCache() rejects within seconds when nothing listens at the URL', async (t) => {
    const port = await freePort();
    const t0 = Date.now();
    await assert.rejects(openCache({ redis: `redis://127.0.0.1:${port}` }), (e: unknown) => e instanceof SentioError && /Redis unavailable/.test(e.message) && e.code === 'SENTIO_ERR_STORE_UNAVAILABLE');
    const ms = Date.now() - t0;
    assert.ok(ms < 4000, `${ms} ms`);
    t.diagnostic(`openCache against a closed port rejected after ${ms} ms`);
  });

  test('Redis down: every call rejects within seconds; the same cache works again after a restart, subscriptions included', async (t) => {
    const a = await RedisCache.open({ url: redis.url, prefix: 'outage:' });
    const b = await RedisCache.open({ url: redis.url, prefix: 'outage:' });
    opened.push(a, b);
    const got = await collect(a, 'events');
    await b.publish('events', 'before');
    await eventually('delivered before the outage', () => got.messages.length === 1);

    await redis.stop();
    const calls: [string, () => Promise<unknown>][] = [
      ['get', () => a.get('k')],
      ['set', () => a.set('k', 'v', 1000)],
      ['del', () => a.del('k')],
      ['take', () => a.take('k', 1, 1, 1)],
      ['hit', () => a.hit('k', 1000)],
      ['revoke', () => a.revoke('k', 1000)],
      ['isRevoked', () => a.isRevoked('k')],
      ['acquire', () => a.acquire('k', 1000)],
      ['publish', () => b.publish('events', 'lost')],
      ['subscribe (connected before)', () => a.subscribe('other', () => {})],
      ['subscribe (first on this cache)', () => b.subscribe('other', () => {})],
      ['health', () => a.health()],
    ];
    const timings: string[] = [];
    for (const [name, call] of calls) {
      const t0 = performance.now();
      await assert.rejects(call(), (e: unknown) => e instanceof SentioError && e.code === 'SENTIO_ERR_STORE_UNAVAILABLE' && /^Redis unavailable at 127\.0\.0\.1:\d+: /.test(e.message), name);
      const ms = performance.now() - t0;
      assert.ok(ms < 3000, `${name} took ${ms} ms to reject`);
      timings.push(`${name} ${ms.toFixed(1)} ms`);
    }
    t.diagnostic(`for example: ${String(await a.get('k').catch((e: Error) => e.message))}`);
    t.diagnostic(`rejections while Redis is stopped: ${timings.join(', ')}`);

    const t0 = Date.now();
    redis = await redis.restart();
    await eventually('command connection back', async () => a.health().then(() => true, () => false), 10_000);
    t.diagnostic(`commands answered again ${Date.now() - t0} ms after the restart began`);
    await a.set('k', 'v', 60_000);
    assert.equal(await b.get('k'), 'v');
    assert.equal((await b.take('k', 1, 1, 1)).ok, true);
    // The subscription made before the outage is renewed by the client itself: keep publishing until one arrives.
    let i = 0;
    await eventually('re-subscribed', async () => {
      await b.publish('events', `after${i++}`).catch(() => {});
      return got.messages.length > 1;
    }, 10_000);
    assert.equal(got.messages[0], 'before');
    assert.ok(got.messages.slice(1).every((m) => m.startsWith('after')));
    assert.ok(!got.messages.includes('lost'));
    // A channel whose subscribe failed during the outage delivers nothing stale, and can be subscribed now.
    const fresh = await collect(b, 'other');
    await a.publish('other', 'x');
    await eventually('new subscription', () => fresh.messages.length === 1);
    t.diagnostic(`subscription re-established ${Date.now() - t0} ms after the restart began`);
  });

  test('Redis hung (SIGSTOP): calls reject after the command timeout, then work once it resumes', async (t) => {
    const c = await RedisCache.open({ url: redis.url, prefix: 'hang:', commandTimeoutMs: 1000 });
    opened.push(c);
    await c.set('k', 'v', 60_000);
    redis.process.kill('SIGSTOP');
    try {
      const t0 = performance.now();
      await assert.rejects(c.get('k'), (e: unknown) => e instanceof SentioError && /^Redis unavailable at .*Command timed out/.test(e.message));
      const ms = performance.now() - t0;
      assert.ok(ms >= 900 && ms < 2500, `${ms} ms`);
      t.diagnostic(`get rejected after ${ms.toFixed(0)} ms while Redis was stopped by SIGSTOP (commandTimeoutMs 1000)`);
    } finally {
      redis.process.kill('SIGCONT');
    }
    await eventually('answers again', async () => (await c.get('k').catch(() => undefined)) === 'v', 5000);
    assert.equal((await c.take('hang', 1, 1, 1)).ok, true);
  });

  test('a command in flight when the connection drops rejects at once, not after the command timeout', async (t) => {
    const c = await RedisCache.open({ url: redis.url, prefix: 'drop:', commandTimeoutMs: 10_000 });
    opened.push(c);
    redis.process.kill('SIGSTOP'); // the command is written (synchronously, the connection being ready) and waits for a reply...
    const pending = c.get('k');
    const t0 = performance.now();
    redis.process.kill('SIGKILL'); // ...when the server dies and the kernel closes the socket
    await assert.rejects(pending, (e: unknown) => e instanceof SentioError && /^Redis unavailable at .*connection was lost/.test(e.message));
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${ms} ms`);
    t.diagnostic(`in-flight get rejected ${ms.toFixed(1)} ms after the server was killed`);
    redis = await redis.restart();
    await eventually('back', async () => c.health().then(() => true, () => false), 10_000);
    // Nothing was queued or resent: the key was never written.
    assert.equal(await c.get('k'), undefined);
  });
});
