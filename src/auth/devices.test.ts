// Device-token lookups: the store once, then this instance's map
// (synchronously); revocation and rotation seen at once; a store that does
// not answer refuses the write with a retryable code, never lets it through.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MemoryCache } from '../cache/memory.js';
import { SentioError } from '../errors.js';
import { openStore, type MetaStore } from '../store/index.js';
import { DeviceTokens } from './devices.js';

let dir: string;
let store: MetaStore;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sentio-devtok-'));
  store = await openStore({ dataDir: dir });
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

test('first lookup asks the store, the next is answered synchronously; revocation and expiry apply at once', async () => {
  const cache = new MemoryCache();
  const tokens = await DeviceTokens.open({ store, cache, localTtlMs: 60_000 });
  try {
    const device = await store.createDevice({ name: 'lookup-1', labels: { site: 'north' } });
    const { token, record } = await tokens.issue(device.id, { name: 'first' });
    const first = tokens.lookup(token);
    assert.ok(first instanceof Promise, 'not seen yet: asynchronous');
    const principal = { key: `device-token:${record.id}`, tokenId: record.id, deviceId: device.id, labels: { site: 'north', device: 'lookup-1' } };
    assert.deepEqual(await first, principal, "the device's labels and its name come with it");
    assert.deepEqual(tokens.lookup(token), principal, 'then from the local map, synchronously');

    // A renamed and relabelled device: its tokens are looked up again, with the new labels.
    await store.updateDevice(device.id, { name: 'lookup-1b', labels: { site: 'south' } });
    await tokens.deviceChanged(device.id);
    const changed = tokens.lookup(token);
    assert.ok(changed instanceof Promise, 'the local entry was dropped');
    assert.deepEqual((await changed)?.labels, { site: 'south', device: 'lookup-1b' });

    // An expiry in the past (rotation with no overlap) takes effect although the local entry is fresh.
    const second = await tokens.issue(device.id);
    assert.ok(await tokens.lookup(second.token));
    await tokens.expire(device.id, second.record.id, new Date(Date.now() - 1000).toISOString());
    assert.equal(await tokens.lookup(second.token), undefined);

    await tokens.revoke(device.id, record.id);
    assert.equal(await tokens.lookup(token), undefined);
    assert.equal(await tokens.lookup('sdt_unknown-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), undefined);
    assert.equal(tokens.lookup('sdt_unknown-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), undefined, 'unknown tokens are remembered briefly');
  } finally {
    await tokens.close();
    await cache.close();
  }
});

test('a fleet reconnecting at once: its lookups reach the store as a few queries of many hashes, each answered with its own device', async () => {
  const cache = new MemoryCache();
  const queries: number[] = [];
  // The real store, counting its calls.
  const counting: MetaStore = Object.create(store);
  counting.findDeviceTokens = (hashes) => {
    queries.push(hashes.length);
    return store.findDeviceTokens(hashes);
  };
  const tokens = await DeviceTokens.open({ store: counting, cache, localTtlMs: 60_000 });
  try {
    const fleet: Array<{ token: string; deviceId: string }> = [];
    for (let i = 0; i < 1200; i++) {
      const device = await store.createDevice({ name: `fleet-${i}`, labels: {} });
      fleet.push({ token: (await tokens.issue(device.id)).token, deviceId: device.id });
    }
    const unknown = Array.from({ length: 50 }, (_, i) => `sdt_never-issued-${i}-cccccccccccccccccccccccccccccccc`);
    const answers = await Promise.all([...fleet.map((f) => tokens.lookup(f.token)), ...unknown.map((t) => tokens.lookup(t))]);
    assert.deepEqual(answers.slice(0, fleet.length).map((p) => p?.deviceId), fleet.map((f) => f.deviceId));
    assert.deepEqual(answers.slice(fleet.length), unknown.map(() => undefined));
    assert.ok(queries.length >= 2 && queries.length <= 4, `1,250 lookups took ${queries.length} queries (${queries.join(', ')} hashes)`);
    assert.ok(Math.max(...queries) <= 1000, `a query of ${Math.max(...queries)} hashes`);
    assert.equal(queries.reduce((a, b) => a + b, 0), 1250, 'each hash asked once');
    // Answered from the local map now, synchronously.
    assert.equal((tokens.lookup(fleet[7]!.token) as { deviceId: string } | undefined)?.deviceId, fleet[7]!.deviceId);
  } finally {
    await tokens.close();
    await cache.close();
  }
});

test('a store that does not answer: the lookup fails with SENTIO_ERR_STORE_UNAVAILABLE, counted', async () => {
  const closedDir = await mkdtemp(join(tmpdir(), 'sentio-devtok-closed-'));
  const closed = await openStore({ dataDir: closedDir });
  await closed.close();
  const cache = new MemoryCache();
  const failures: string[] = [];
  const tokens = await DeviceTokens.open({ store: closed, cache, localTtlMs: 5000, onError: (where) => failures.push(where) });
  try {
    await assert.rejects(Promise.resolve(tokens.lookup('sdt_some-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')), (err: unknown) => err instanceof SentioError && err.code === 'SENTIO_ERR_STORE_UNAVAILABLE');
    assert.deepEqual(failures, ['store']);
  } finally {
    await tokens.close();
    await cache.close();
    await rm(closedDir, { recursive: true, force: true });
  }
});
