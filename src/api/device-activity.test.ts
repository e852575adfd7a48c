// Device status from the ingest path: two trackers (two gateway instances)
// sharing one cache and one store report one fleet-wide rate per device;
// last seen (at most SEEN_PERSIST_MS behind) and last error reach the store.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MemoryCache } from '../cache/memory.js';
import { SentioError } from '../errors.js';
import type { IngestResult } from '../native/types.js';
import { openStore, type MetaStore } from '../store/index.js';
import { DeviceActivityTracker, SEEN_PERSIST_MS } from './device-activity.js';

let dir: string;
let store: MetaStore;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sentio-activity-'));
  store = await openStore({ dataDir: dir });
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const batch = (samples: number) => ({ samples }) as IngestResult;

test('two instances: one rate per device, summed; a 10 s window is read once both have flushed it', async () => {
  const device = await store.createDevice({ name: 'rate-1' });
  const other = await store.createDevice({ name: 'rate-2' });
  let now = Date.UTC(2026, 10, 27, 12, 0, 0); // a window boundary
  const clock = () => now;
  const cache = new MemoryCache();
  const errors: unknown[] = [];
  const a = new DeviceActivityTracker({ store, cache, onError: (e) => errors.push(e), now: clock });
  const b = new DeviceActivityTracker({ store, cache: cache.share(), onError: (e) => errors.push(e), now: clock });
  const opts = { principal: { key: 'device-token:t1', deviceId: device.id, tokenId: 't1' } };
  try {
    // 10 seconds of writes: 4,000 samples a second through A, 1,000 through B.
    for (let s = 0; s < 10; s++) {
      now = Date.UTC(2026, 10, 27, 12, 0, s) + 500;
      a.accepted(batch(4000), opts);
      b.accepted(batch(1000), opts);
      if (s % 2 === 1) await Promise.all([a.flush(), b.flush()]);
    }
    now = Date.UTC(2026, 10, 27, 12, 0, 10) + 500;
    b.accepted(batch(7), { principal: { key: 'device-token:t2', deviceId: other.id, tokenId: 't2' } });
    now = Date.UTC(2026, 10, 27, 12, 0, 11);
    await Promise.all([a.flush(), b.flush()]);
    // Too early: the window may still be flushing on some instance, so the one before it (empty) is read.
    assert.equal((await a.rates([device.id], Date.UTC(2026, 10, 27, 12, 0, 12))).get(device.id), 0);
    // After the settle time, either instance answers the sum.
    const at = Date.UTC(2026, 10, 27, 12, 0, 14);
    const fromA = await a.rates([device.id, other.id], at);
    const fromB = await b.rates([device.id], at);
    assert.equal(fromA.get(device.id), 5000);
    assert.equal(fromB.get(device.id), 5000);
    assert.equal(fromA.get(other.id), 0, 'its samples are in the next window');

    a.failed(new SentioError('SENTIO_ERR_RATE_LIMITED', 'over 10 samples/s'), opts);
    await a.flush();
    const stored = await store.getDevice(device.id);
    // Written when it came online (the first flush saw 01.5), then not again within SEEN_PERSIST_MS.
    assert.equal(stored?.lastSeenAt, new Date(Date.UTC(2026, 10, 27, 12, 0, 1) + 500).toISOString());
    assert.equal(a.lastSeenMs(device.id), Date.UTC(2026, 10, 27, 12, 0, 9) + 500, 'this instance answers from memory');
    assert.match(stored?.lastError ?? '', /SENTIO_ERR_RATE_LIMITED/);
    // SEEN_PERSIST_MS after what the store holds, the next write goes to the store.
    now = Date.UTC(2026, 10, 27, 12, 0, 1) + 500 + SEEN_PERSIST_MS;
    a.accepted(batch(1), opts);
    await a.flush();
    assert.equal((await store.getDevice(device.id))?.lastSeenAt, new Date(now).toISOString());
    assert.deepEqual(errors, []);
  } finally {
    await a.close();
    await b.close();
    await cache.close();
  }
});
