// Learned staleness: each series (and each device) of a connector learns
// its own reporting interval from its recent gaps, and is stale once it has
// been silent for several of its intervals. No global timeout: a Zigbee
// sensor reporting every few minutes and a meter reporting every second are
// each judged by their own rhythm.
//
// - The gaps are the differences of the sample timestamps (the device's or
//   the broker's time, so a burst of redelivered messages after a reconnect
//   does not teach an interval of microseconds); the silence is measured
//   from the arrival of the last one, on this gateway's clock.
// - The interval is the upper quartile of the last GAPS gaps: robust to a
//   single outage (one long gap) and to bursts (a few short ones), and on
//   the long side for devices that report on change with a heartbeat.
// - Stale: silent for more than FACTOR intervals (and at least
//   MIN_SILENCE_MS). Judged only once MIN_GAPS gaps are known; before that
//   it is `learning`.
// - Bounded: at most maxTracked series and maxDevices devices per connector
//   (the rest is not tracked, and counted); an entry silent for a day, and
//   for 100 times its stale threshold, is forgotten (a removed device).

export const GAPS = 16;
export const MIN_GAPS = 3;
export const FACTOR = 3;
export const MIN_SILENCE_MS = 2000;
/** An entry silent this many times its stale threshold, and at least FORGET_MIN_MS, is forgotten (a removed device). */
const FORGET_AFTER = 100;
const FORGET_MIN_MS = 24 * 3600 * 1000;

export type Freshness = 'learning' | 'fresh' | 'stale';

/** One series' or device's rhythm. */
export class Rhythm {
  /** Ring of the last GAPS gaps (ms). */
  private readonly gaps = new Float32Array(GAPS);
  private n = 0;
  private lastTs = Number.NaN;
  /** interval() as of n gaps. */
  private learned: { n: number; ms: number | undefined } = { n: -1, ms: undefined };
  /** Arrival of the last sample (this process's clock). */
  lastSeenMs: number;
  /** False once the watch forgot it: a holder of it (a TrackedSeries) then asks the watch again. */
  tracked = true;

  constructor(
    public labels: Readonly<Record<string, string>>,
    ts: number,
    now: number,
  ) {
    this.lastTs = ts;
    this.lastSeenMs = now;
  }

  seen(ts: number, now: number): void {
    this.lastSeenMs = now;
    const gap = ts - this.lastTs;
    if (!(gap > 0)) return; // the same or an older sample: no new gap
    this.lastTs = ts;
    this.gaps[this.n % GAPS] = gap;
    this.n++;
  }

  /** The learned interval (ms), or undefined while learning. */
  interval(): number | undefined {
    if (this.learned.n === this.n) return this.learned.ms;
    const k = Math.min(this.n, GAPS);
    let ms: number | undefined;
    if (k >= MIN_GAPS) {
      // Insertion sort into a shared scratch: 16 floats, no allocation (this runs for every series on every count).
      const a = scratch;
      for (let i = 0; i < k; i++) {
        const g = this.gaps[i]!;
        let j = i;
        while (j > 0 && a[j - 1]! > g) {
          a[j] = a[j - 1]!;
          j--;
        }
        a[j] = g;
      }
      ms = a[Math.min(k - 1, Math.floor(k * 0.75))]!;
    }
    this.learned = { n: this.n, ms };
    return ms;
  }

  /** Needs the interval only when silent for longer than MIN_SILENCE_MS: a recent series is fresh once learned. */
  freshness(now: number): Freshness {
    if (this.n < MIN_GAPS) return 'learning';
    const silence = now - this.lastSeenMs;
    if (silence <= MIN_SILENCE_MS) return 'fresh';
    return silence > Math.max(FACTOR * this.interval()!, MIN_SILENCE_MS) ? 'stale' : 'fresh';
  }

  forgettable(now: number): boolean {
    const silence = now - this.lastSeenMs;
    if (silence <= FORGET_MIN_MS) return false;
    const threshold = Math.max(FACTOR * (this.interval() ?? 60_000), MIN_SILENCE_MS);
    return silence > Math.max(FORGET_AFTER * threshold, FORGET_MIN_MS);
  }
}

const scratch = new Float32Array(GAPS);

class Device extends Rhythm {
  /** Set by availability messages (Zigbee2MQTT); null: not reported. */
  online: boolean | null = null;
}

export interface SeriesView {
  labels: Readonly<Record<string, string>>;
  lastSeenAt: string;
  /** The learned interval; null while learning. */
  intervalMs: number | null;
  freshness: Freshness;
}

export interface DeviceView extends SeriesView {
  /** Stable identity of the device (an IEEE address, its topic captures). */
  key: string;
  /** From the device's own availability reports; null when it has none. */
  availability: 'online' | 'offline' | null;
}

export type DeviceState = Freshness | 'offline';

export interface WatchCounts {
  series: Record<Freshness, number>;
  devices: Record<DeviceState, number>;
  /** The `device` label (else the key) of the stale devices, at most 1000. */
  staleDeviceNames: string[];
  /** Series and devices beyond the bounds, not tracked. */
  untracked: number;
}

/** What the API asks of a watch. */
export interface WatchedQuery {
  /** Only stale (and, for devices, offline) ones. */
  stale: boolean;
  limit: number;
}

/** A series that holds its own rhythm (see Watch.seenSeries). */
export interface TrackedSeries {
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
  rhythm: Rhythm | undefined;
}

export interface WatchOptions {
  maxTracked?: number;
  maxDevices?: number;
  now?: () => number;
}

export class Watch {
  private readonly series = new Map<string, Rhythm>();
  private readonly devices = new Map<string, Device>();
  private untracked = 0;
  private readonly maxTracked: number;
  private readonly maxDevices: number;
  readonly now: () => number;

  constructor(o: WatchOptions = {}) {
    this.maxTracked = o.maxTracked ?? 100_000;
    this.maxDevices = o.maxDevices ?? 20_000;
    this.now = o.now ?? Date.now;
  }

  /** A sample of series `key` with timestamp `ts` arrived (at `now`). */
  seen(key: string, labels: Readonly<Record<string, string>>, ts: number, now = this.now()): void {
    const r = this.series.get(key);
    if (r !== undefined) r.seen(ts, now);
    else this.track(key, labels, ts, now);
  }

  /** seen() for a series that keeps its rhythm on itself (no lookup per sample). */
  seenSeries(s: TrackedSeries, ts: number, now: number): void {
    const r = s.rhythm;
    if (r?.tracked === true) return r.seen(ts, now);
    const known = this.series.get(s.key);
    if (known !== undefined) known.seen(ts, now);
    s.rhythm = known ?? this.track(s.key, s.labels, ts, now);
  }

  private track(key: string, labels: Readonly<Record<string, string>>, ts: number, now: number): Rhythm | undefined {
    if (this.series.size >= this.maxTracked) {
      this.untracked++;
      return undefined;
    }
    const r = new Rhythm(labels, ts, now);
    this.series.set(key, r);
    return r;
  }

  /** A message of device `key` arrived; `online`: its availability, when the message reports it. */
  device(key: string, labels: Readonly<Record<string, string>>, ts: number, online?: boolean, now = this.now()): void {
    let d = this.devices.get(key);
    if (d === undefined) {
      if (this.devices.size >= this.maxDevices) {
        this.untracked++;
        return;
      }
      d = new Device(labels, ts, now);
      this.devices.set(key, d);
    } else if (online === undefined) {
      d.seen(ts, now);
      d.labels = labels; // renamed, or its model learned
    }
    // An availability report is no reading: it neither teaches the rhythm nor ends the silence.
    if (online !== undefined) d.online = online;
  }

  /** Counts, and forgets what has been silent for very long. */
  counts(): WatchCounts {
    const now = this.now();
    const series: Record<Freshness, number> = { learning: 0, fresh: 0, stale: 0 };
    const devices: Record<DeviceState, number> = { learning: 0, fresh: 0, stale: 0, offline: 0 };
    const staleDeviceNames: string[] = [];
    for (const [k, r] of this.series) {
      if (r.forgettable(now)) {
        this.series.delete(k);
        r.tracked = false;
      } else series[r.freshness(now)]++;
    }
    for (const [k, d] of this.devices) {
      if (d.forgettable(now)) {
        this.devices.delete(k);
        continue;
      }
      const state: DeviceState = d.online === false ? 'offline' : d.freshness(now);
      devices[state]++;
      if (state === 'stale' && staleDeviceNames.length < 1000) staleDeviceNames.push(d.labels.device ?? k);
    }
    return { series, devices, staleDeviceNames, untracked: this.untracked };
  }

  /** Devices, stale and offline ones first, then by name. */
  deviceViews(filter?: { stale?: boolean }, limit = 10_000): DeviceView[] {
    const now = this.now();
    const out: DeviceView[] = [];
    for (const [key, d] of this.devices) {
      const v: DeviceView = { key, ...view(d, now), availability: d.online === null ? null : d.online ? 'online' : 'offline' };
      if (filter?.stale === true && v.freshness !== 'stale' && v.availability !== 'offline') continue;
      out.push(v);
    }
    const rank = (v: DeviceView) => (v.availability === 'offline' ? 0 : v.freshness === 'stale' ? 1 : 2);
    out.sort((a, b) => rank(a) - rank(b) || name(a).localeCompare(name(b)));
    return out.slice(0, limit);
  }

  /** Series, stale ones first. */
  seriesViews(filter?: { stale?: boolean }, limit = 1000): SeriesView[] {
    const now = this.now();
    const out: SeriesView[] = [];
    let others = 0;
    for (const r of this.series.values()) {
      if (r.freshness(now) !== 'stale') {
        if (filter?.stale === true || others >= limit) continue;
        others++;
      }
      out.push(view(r, now));
    }
    out.sort((a, b) => (a.freshness === 'stale' ? 0 : 1) - (b.freshness === 'stale' ? 0 : 1) || (a.labels.__name__ ?? '').localeCompare(b.labels.__name__ ?? ''));
    return out.slice(0, limit);
  }
}

function view(r: Rhythm, now: number): SeriesView {
  const i = r.interval();
  return { labels: r.labels, lastSeenAt: new Date(r.lastSeenMs).toISOString(), intervalMs: i === undefined ? null : Math.round(i), freshness: r.freshness(now) };
}

function name(v: DeviceView): string {
  return v.labels.device ?? v.key;
}
