// Device status from the ingest path: an IngestObserver that notes, per
// device, accepted samples, the last accepted write and the last refusal.
// The hot path only touches a Map and a per-second bucket (and, when a device
// comes online, starts one write to the store without waiting for it); this
// instance's own last-seen times are read by the API ahead of the store
// (`lastSeenMs`), so a device is online from the request after its first
// acknowledged write. Every `flushMs`:
// - last errors, and last-seen times the store holds `SEEN_PERSIST_MS` or
//   more behind, go to the store in one batched call (a fleet of 10,000
//   devices writing every second costs 500 rows a second, not 10,000; the
//   store's last seen lags by at most that for other instances, well inside
//   the minute that counts as online);
// - the samples of each complete second are added to the device's 10 s
//   window counter in the cache (`hit`), so with Redis the rate is the
//   whole fleet's, summed over every instance that took the device's writes.
// `rates()` reads the latest window every instance has flushed: the rate
// is about 3 to 13 s old, and 0 for a device that wrote nothing then.

import type { Cache } from '../cache/types.js';
import type { SentioError } from '../errors.js';
import type { BatchOptions, IngestObserver } from '../pipeline/port.js';
import type { IngestResult } from '../native/types.js';
import type { DeviceActivity, MetaStore } from '../store/types.js';

const SECONDS = 10;
const WINDOW_MS = SECONDS * 1000;
/** Window counters outlive their window long enough to be read after it. */
const WINDOW_TTL_MS = 3 * WINDOW_MS;

interface Track {
  /** Samples per second, in a ring of SECONDS buckets; `seconds[i]` is the second bucket i holds. */
  buckets: Float64Array;
  seconds: Float64Array;
  /** Last second whose samples were added to the cache. */
  flushedSec: number;
  lastSeenMs: number;
  /** The last-seen time last handed to the store. */
  persistedSeenMs: number;
  dirtySeen: boolean;
  error: { message: string; at: string } | undefined;
  tokens: Set<string>;
}

/** A device's last-seen time is written to the store when the stored one is this far behind (or it comes online). */
export const SEEN_PERSIST_MS = 20_000;
/** Write-throughs of devices coming online: at most one per this. */
const WRITE_THROUGH_MS = 250;

const windowKey = (deviceId: string, window: number) => `devsamples:${deviceId}:${window}`;

export class DeviceActivityTracker implements IngestObserver {
  private readonly devices = new Map<string, Track>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private soon = false;
  /** Devices come online since the last write-through. */
  private readonly online = new Set<string>();
  private lastWriteThrough = 0;
  private closed = false;
  /** How long after a window ends every instance has flushed it. */
  private readonly settleMs: number;
  private readonly flushMs: number;

  private readonly store: MetaStore;
  private readonly cache: Cache;
  private readonly onError: (err: unknown) => void;
  private readonly now: () => number;

  constructor(o: { store: MetaStore; cache: Cache; onError: (err: unknown) => void; flushMs?: number; now?: () => number }) {
    this.store = o.store;
    this.cache = o.cache;
    this.onError = o.onError;
    this.now = o.now ?? Date.now;
    const flushMs = o.flushMs ?? 2000;
    this.flushMs = flushMs;
    this.settleMs = flushMs + 1000;
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  private track(deviceId: string): Track {
    let t = this.devices.get(deviceId);
    if (t === undefined) {
      t = { buckets: new Float64Array(SECONDS), seconds: new Float64Array(SECONDS), flushedSec: 0, lastSeenMs: 0, persistedSeenMs: 0, dirtySeen: false, error: undefined, tokens: new Set() };
      this.devices.set(deviceId, t);
    }
    return t;
  }

  accepted(result: IngestResult, opts: BatchOptions): void {
    const { deviceId, tokenId } = opts.principal;
    if (deviceId === undefined) return;
    const t = this.track(deviceId);
    const now = this.now();
    const sec = Math.floor(now / 1000);
    const i = sec % SECONDS;
    if (t.seconds[i] !== sec) {
      t.seconds[i] = sec;
      t.buckets[i] = 0;
    }
    t.buckets[i]! += result.samples;
    // A device coming online (first write here, or first in a while): written through at once, so
    // every instance shows it online within milliseconds, not at the next periodic flush.
    const comingOnline = now - t.lastSeenMs > this.flushMs * 2;
    t.lastSeenMs = now;
    if (comingOnline || now - t.persistedSeenMs >= SEEN_PERSIST_MS) {
      t.dirtySeen = true;
      if (tokenId !== undefined) t.tokens.add(tokenId);
    }
    if (comingOnline) this.writeThrough(deviceId);
  }

  /**
   * Writes the last seen of devices coming online to the store soon (at most
   * one write every WRITE_THROUGH_MS, of just those devices): a fleet coming
   * online at once, or a gateway catching up on a backlog, costs a few small
   * writes, not a flush of every device per turn of the event loop.
   */
  private writeThrough(deviceId: string): void {
    this.online.add(deviceId);
    if (this.soon || this.closed) return;
    this.soon = true;
    const wait = Math.max(0, this.lastWriteThrough + WRITE_THROUGH_MS - this.now());
    const run = (): void => {
      this.soon = false;
      this.lastWriteThrough = this.now();
      const ids = [...this.online];
      this.online.clear();
      const updates: DeviceActivity[] = [];
      for (const id of ids) {
        const t = this.devices.get(id);
        if (t === undefined || !t.dirtySeen) continue;
        updates.push({ deviceId: id, lastSeenAt: new Date(t.lastSeenMs).toISOString() });
        t.persistedSeenMs = t.lastSeenMs;
        t.dirtySeen = false;
      }
      if (updates.length === 0) return;
      this.flushing = this.flushing.then(() => this.store.recordDeviceActivity(updates).catch(this.onError));
    };
    if (wait === 0) setImmediate(run);
    else setTimeout(run, wait).unref();
  }

  /** When this instance last accepted a write of the device (Unix ms), ahead of what reached the store. */
  lastSeenMs(deviceId: string): number | undefined {
    const t = this.devices.get(deviceId);
    return t === undefined || t.lastSeenMs === 0 ? undefined : t.lastSeenMs;
  }

  failed(err: SentioError, opts: BatchOptions): void {
    const { deviceId } = opts.principal;
    if (deviceId === undefined) return;
    this.track(deviceId).error = { message: `${err.code}: ${err.message}`, at: new Date(this.now()).toISOString() };
  }

  /** Counts a failure to reach the store or cache (for callers of rates()). */
  reportError(err: unknown): void {
    this.onError(err);
  }

  /** Accepted samples per second of each device over the latest 10 s window all instances have flushed. */
  async rates(deviceIds: string[], now = this.now()): Promise<Map<string, number>> {
    const window = Math.floor((now - this.settleMs) / WINDOW_MS) - 1;
    const counts = await Promise.all(deviceIds.map((id) => this.cache.hit(windowKey(id, window), WINDOW_TTL_MS, 0)));
    return new Map(deviceIds.map((id, i) => [id, counts[i]! / SECONDS]));
  }

  /** Writes what changed since the last flush; resolves when written. */
  flush(now = this.now()): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const updates: DeviceActivity[] = [];
      const tokenIds: string[] = [];
      const windows = new Map<string, number>();
      const nowSec = Math.floor(now / 1000);
      let latest = 0;
      for (const [deviceId, t] of this.devices) {
        // Complete seconds not yet counted, into their 10 s windows.
        for (let i = 0; i < SECONDS; i++) {
          const sec = t.seconds[i]!;
          if (sec > t.flushedSec && sec < nowSec && t.buckets[i]! > 0) {
            const key = windowKey(deviceId, Math.floor(sec / SECONDS));
            windows.set(key, (windows.get(key) ?? 0) + t.buckets[i]!);
          }
        }
        t.flushedSec = nowSec - 1;
        if (!t.dirtySeen && t.error === undefined) continue;
        updates.push({ deviceId, ...(t.dirtySeen ? { lastSeenAt: new Date(t.lastSeenMs).toISOString() } : {}), ...(t.error ? { lastError: t.error } : {}) });
        if (t.dirtySeen) {
          latest = Math.max(latest, t.lastSeenMs);
          t.persistedSeenMs = t.lastSeenMs;
        }
        tokenIds.push(...t.tokens);
        t.dirtySeen = false;
        t.error = undefined;
        t.tokens.clear();
      }
      await Promise.all([
        ...[...windows].map(([key, n]) => this.cache.hit(key, WINDOW_TTL_MS, n).catch(this.onError)),
        (async () => {
          if (updates.length === 0) return;
          try {
            await this.store.recordDeviceActivity(updates);
            if (tokenIds.length > 0) await this.store.markDeviceTokensUsed(tokenIds, new Date(latest || now).toISOString());
          } catch (err) {
            this.onError(err);
          }
        })(),
      ]);
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }
}
