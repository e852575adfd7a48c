// Device status from the ingest path: an IngestObserver that notes, per
// device, accepted samples, the last accepted write and the last refusal,
// and writes them to the store in batches (every `flushMs`, one call), so
// the hot path only touches a Map. Samples per second are this instance's
// view: a sliding 10 s window of one-second buckets.

import type { BatchOptions, IngestObserver } from '../ingest/index.js';
import type { SentioError } from '../errors.js';
import type { IngestResult } from '../native/types.js';
import type { DeviceActivity, MetaStore } from '../store/types.js';

const WINDOW_S = 10;

interface Track {
  buckets: Float64Array;
  /** Second of buckets[0]'s last write. */
  seconds: Float64Array;
  lastSeenMs: number;
  dirtySeen: boolean;
  error: { message: string; at: string } | undefined;
  tokens: Set<string>;
}

export class DeviceActivityTracker implements IngestObserver {
  private readonly devices = new Map<string, Track>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: MetaStore,
    private readonly onError: (err: unknown) => void,
    flushMs = 2000,
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  private track(deviceId: string): Track {
    let t = this.devices.get(deviceId);
    if (t === undefined) {
      t = { buckets: new Float64Array(WINDOW_S), seconds: new Float64Array(WINDOW_S), lastSeenMs: 0, dirtySeen: false, error: undefined, tokens: new Set() };
      this.devices.set(deviceId, t);
    }
    return t;
  }

  accepted(result: IngestResult, opts: BatchOptions): void {
    if (opts.deviceId === undefined) return;
    const t = this.track(opts.deviceId);
    const now = Date.now();
    const sec = Math.floor(now / 1000);
    const i = sec % WINDOW_S;
    if (t.seconds[i] !== sec) {
      t.seconds[i] = sec;
      t.buckets[i] = 0;
    }
    t.buckets[i]! += result.samples;
    t.lastSeenMs = now;
    t.dirtySeen = true;
    if (opts.principal.startsWith('device-token:')) t.tokens.add(opts.principal.slice('device-token:'.length));
  }

  failed(err: SentioError, opts: BatchOptions): void {
    if (opts.deviceId === undefined) return;
    this.track(opts.deviceId).error = { message: `${err.code}: ${err.message}`, at: new Date().toISOString() };
  }

  /** Accepted samples per second over the last full 10 s. */
  samplesPerSecond(deviceId: string, now = Date.now()): number {
    const t = this.devices.get(deviceId);
    if (t === undefined) return 0;
    const sec = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < WINDOW_S; i++) if (t.seconds[i]! > sec - WINDOW_S && t.seconds[i]! < sec) sum += t.buckets[i]!;
    return sum / (WINDOW_S - 1);
  }

  /** Writes what changed since the last flush; resolves when written. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const updates: DeviceActivity[] = [];
      const tokenIds: string[] = [];
      let latest = 0;
      for (const [deviceId, t] of this.devices) {
        if (!t.dirtySeen && t.error === undefined) continue;
        updates.push({ deviceId, ...(t.dirtySeen ? { lastSeenAt: new Date(t.lastSeenMs).toISOString() } : {}), ...(t.error ? { lastError: t.error } : {}) });
        if (t.dirtySeen) latest = Math.max(latest, t.lastSeenMs);
        tokenIds.push(...t.tokens);
        t.dirtySeen = false;
        t.error = undefined;
        t.tokens.clear();
      }
      if (updates.length === 0) return;
      try {
        await this.store.recordDeviceActivity(updates);
        if (tokenIds.length > 0) await this.store.markDeviceTokensUsed(tokenIds, new Date(latest || Date.now()).toISOString());
      } catch (err) {
        this.onError(err);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
