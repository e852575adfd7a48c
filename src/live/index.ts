// Live streams for dashboards: GET /live, a WebSocket (docs/live.md has the
// full contract).
//
// Upgrade: an access token (JWT) as `?access_token=<t>`, `Authorization:
// Bearer <t>` or `Sec-WebSocket-Protocol: bearer, <t>` (browsers; the server
// then answers with the subprotocol `bearer`), checked by the injected
// `verify`. Missing, invalid or expired: refused before the handshake with
// 401 and the errors.ts JSON ({code, message, error}).
//
// Client → server (JSON text frames, at most 16 KiB):
//   {"type":"subscribe","id":"<ref>","selector":"cpu_usage{host=~\"a.*\"}"}
//   {"type":"subscribe","id":"<ref>","device":"<deviceId>"}
//   {"type":"unsubscribe","id":"<ref>"}
//   {"type":"auth","token":"<fresher token of the same user>"}
// Server → client:
//   {"type":"welcome","instance","user":{userId,username,role},"expiresAtMs","maxRate","intervalMs"}
//   {"type":"subscribed","id","topic"}  {"type":"unsubscribed","id"}
//   {"type":"auth","expiresAtMs"}
//   {"type":"error","id"?,"code","message"}       (the connection stays open)
//   {"type":"data","topic","t","snapshot"?,"series":[{"ref","labels"?,"p":[ts,value]}]}
//   {"type":"status","t","status":<what status() returned>}   every second
//
// - Topics: a subscription's topic is `sel:<canonical selector>` (formatSelector,
//   so equal selectors share one) or `dev:<deviceId>`. Client ids only name
//   subscriptions in replies; data frames carry the topic.
// - Rate: updates are flushed once per tick, ticks at least 1000/maxRate ms
//   apart (frame `t`, monotonic Unix ms); a series appears at most once per
//   topic per tick with its latest point (greatest timestamp wins, an older
//   point never replaces a newer one), so no series is sent more than maxRate
//   times a second on a subscription. One frame per topic per tick, with
//   every series that changed. Snapshots are state, not updates: on
//   subscribe (the series the topic has seen) and on catching up after
//   being skipped, every series of the topic with its labels.
// - Series refs: `ref` is a number for the lifetime of the process. `labels`
//   comes with a ref's first appearance in a topic's stream and in every
//   snapshot; afterwards only the ref. Values that are not finite are the
//   strings "NaN", "+Inf", "-Inf".
// - A device subscription gets the series of batches written with that
//   device's token (BatchOptions.principal.deviceId).
// - Expiry: at the token's expiresAtMs the server closes the socket with
//   4001 "token expired" unless an `auth` message with a valid token of the
//   same user arrived before; a refused `auth` gets an error and changes
//   nothing.
// - Slow clients: before each tick, a client with more than
//   `skipBufferedBytes` unsent is unsubscribed from its topics (its updates
//   are skipped and counted); once its buffer drains below half of that it
//   is resubscribed and sent a snapshot (latest values lose nothing). Lagging
//   longer than `slowClientMs`: closed with 4008 "too slow" and counted as
//   dropped. uWS refuses sends beyond `maxBackpressureBytes` and closes the
//   socket (also counted). Nothing here ever waits on a client.
// - Ingest path cost: accepted() does nothing and parseOptions() asks for
//   nothing while no topic exists (here or, with a shared cache, on another
//   instance). Otherwise, per batch, the core's latest tap (one packed
//   buffer; label sets only for series this hub has not been sent yet, see
//   `epoch`) and O(distinct series of the batch) here: a Map lookup per
//   series, a JSON.parse and selector match per new series (cached,
//   re-matched when topics change), and a changed series is queued once per
//   tick. Fanning out to topics (however many match) happens once per tick,
//   not per batch; nothing here is per sample.
// - Across instances (cache of kind 'redis'): each instance publishes the
//   topics it serves (on change and every second; forgotten after 3.5 s
//   without renewal) and, per tick, the updates from its own ingest that
//   another instance wants, on channel `live`. Received updates are merged
//   like local ones (latest wins) and never republished; an instance ignores
//   its own messages (the cache delivers to the publisher too).
// - Close codes: 4001 token expired, 4008 too slow, 1001 server shutting
//   down, 1006/1009 from uWS (connection lost, frame too large).
// - Bounds: `maxSubscriptions` per client, `maxSeriesPerTopic` series per
//   topic (updates of further series are skipped, counted as
//   reason="series_limit"), a series cache of `maxSeries` entries (those no
//   topic holds are forgotten first).

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import client from 'prom-client';
import type { Registry } from 'prom-client';
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Cache, Unsubscribe } from '../cache/types.js';
import { SentioError, asSentioError } from '../errors.js';
import type { BatchOptions, IngestObserver, ObserverParseOptions } from '../pipeline/port.js';
import type { IngestResult, LatestSamples } from '../native/types.js';
import { formatSelector, matchesLabels, parseSelector, type Selector } from '../query/selector.js';
import { sendError, watchAbort } from '../http/respond.js';

export interface LiveUser {
  userId: string;
  username: string;
  role: 'admin' | 'operator' | 'viewer';
  /** When the token stops being valid (Unix ms). */
  expiresAtMs: number;
}

/** Checks an access token; rejects with a SentioError (SENTIO_ERR_UNAUTHORIZED, SENTIO_ERR_TOKEN_EXPIRED) when it is not valid. */
export type VerifyToken = (token: string) => Promise<LiveUser>;

export interface LiveHubOptions {
  /** Updates per second per series at most (default 10). */
  maxRate: number;
  verify: VerifyToken;
  /** Shared across instances when its kind is 'redis'. */
  cache?: Cache;
  /** Gateway status, sent to every client each second as is. */
  status: () => unknown;
  registry: Registry;
  /** Names this instance in cross-instance messages (default: a random UUID). */
  instanceId?: string;
  /** Called when the shared cache fails (a lost cross-instance tick, a failed subscription), to count it. */
  onCacheError?: (err: unknown) => void;
  /** Unsent bytes above which a client's updates are skipped (default 256 KiB). */
  skipBufferedBytes?: number;
  /** A client skipped this long is closed with 4008 (default 10 s). */
  slowClientMs?: number;
  /** uWS maxBackpressure: a send beyond it is dropped and the socket closed (default 4 MiB). */
  maxBackpressureBytes?: number;
  /** Subscriptions per client (default 100). */
  maxSubscriptions?: number;
  /** Series one topic tracks (default 10,000). */
  maxSeriesPerTopic?: number;
  /** Series remembered for matching (default 100,000). */
  maxSeries?: number;
}

export const CLOSE_TOKEN_EXPIRED = 4001;
export const CLOSE_TOO_SLOW = 4008;
export const CLOSE_GOING_AWAY = 1001;

const STATUS_TOPIC = 'status';
const CHANNEL = 'live';
const STATUS_MS = 1000;
const INTEREST_TTL_MS = 3500;
const MAX_MESSAGE_BYTES = 16 * 1024;
const MAX_ID_CHARS = 128;
const MAX_DEVICE_CHARS = 256;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Tap epochs (see LiveHub.epoch), unique in the process: the native core
 * keeps, per thread, which label sets it returned under one epoch, and two
 * hubs in one process must never share one.
 */
let lastEpoch = Math.floor(Math.random() * 2 ** 30);
function nextEpoch(): number {
  lastEpoch = lastEpoch >= 2 ** 32 - 1 ? 1 : lastEpoch + 1;
  return lastEpoch;
}

/** Monotonic Unix ms (whole): frame times and tick spacing. */
function nowMs(): number {
  return Math.floor(performance.timeOrigin + performance.now());
}

/** A sample value as JSON: finite numbers as numbers, the rest as Prometheus spells them. */
function jsonValue(v: number): string {
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"+Inf"' : '"-Inf"';
}

function parseValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === '+Inf') return Number.POSITIVE_INFINITY;
  if (v === '-Inf') return Number.NEGATIVE_INFINITY;
  return undefined;
}

interface Series {
  ref: number;
  id: bigint;
  labels: Record<string, string>;
  /** The label set as JSON text (canonical order), sent as is. */
  json: string;
  ts: number;
  v: number;
  /** Hub version its `topics` were matched at. */
  version: number;
  /** Selector topics matching it. */
  topics: Topic[];
  /** Topics holding it (`Topic.series`). */
  held: number;
  /** Queued in LiveHub.changed (updated since the last tick, not yet given to its topics). */
  changed: boolean;
  /** The device whose batch last updated it (for other instances' device topics). */
  device: string | undefined;
}

class Topic {
  /** Local clients subscribed (each counted once). */
  local = 0;
  /** Other instances serving it, with when their interest lapses. */
  readonly remote = new Map<string, number>();
  /** Series seen on this topic, for snapshots. */
  readonly series = new Map<number, Series>();
  /** Series changed since the last tick. */
  readonly dirty = new Set<Series>();
  /** Refs whose labels this topic's stream has not carried yet. */
  readonly fresh = new Set<number>();
  readonly keyJson: string;

  constructor(
    readonly key: string,
    readonly selector: Selector | undefined,
  ) {
    this.keyJson = JSON.stringify(key);
  }

  get unused(): boolean {
    return this.local === 0 && this.remote.size === 0;
  }
}

interface Client {
  user: LiveUser;
  ws: WebSocket<Client> | undefined;
  /** Subscription id → topic. */
  subs: Map<string, Topic>;
  /** When it started lagging (0: not lagging). */
  lagSince: number;
  expiry: NodeJS.Timeout | undefined;
  closed: boolean;
}

/** The access token of an upgrade request, and whether it came as the `bearer` subprotocol. */
export function presentedLiveToken(query: string, authorization: string, protocol: string): { token: string | undefined; viaProtocol: boolean } {
  if (protocol !== '') {
    const parts = protocol.split(',').map((p) => p.trim());
    const at = parts.findIndex((p) => p.toLowerCase() === 'bearer');
    const t = at >= 0 ? parts[at + 1] : undefined;
    if (t) return { token: t, viaProtocol: true };
  }
  if (authorization !== '') {
    const space = authorization.indexOf(' ');
    if (space > 0 && authorization.slice(0, space).toLowerCase() === 'bearer') {
      const t = authorization.slice(space + 1).trim();
      if (t !== '') return { token: t, viaProtocol: false };
    }
  }
  if (query !== '') {
    const t = new URLSearchParams(query).get('access_token');
    if (t) return { token: t, viaProtocol: false };
  }
  return { token: undefined, viaProtocol: false };
}

function authError(err: unknown): SentioError {
  const e = asSentioError(err);
  return e.code === 'SENTIO_ERR_INTERNAL' ? new SentioError('SENTIO_ERR_UNAUTHORIZED', undefined, { cause: err }) : e;
}

export class LiveHub implements IngestObserver {
  readonly instanceId: string;
  /** Resolves once subscribed to the shared cache (at once without one); rejects when that failed. */
  readonly ready: Promise<void>;

  private readonly maxRate: number;
  private readonly intervalMs: number;
  private readonly verify: VerifyToken;
  private readonly status: () => unknown;
  private readonly shared: Cache | undefined;
  private readonly skipBytes: number;
  private readonly slowClientMs: number;
  private readonly maxBackpressure: number;
  private readonly maxSubscriptions: number;
  private readonly maxSeriesPerTopic: number;
  private readonly maxSeries: number;
  private readonly onCacheError: (err: unknown) => void;

  private app: TemplatedApp | undefined;
  private readonly clients = new Set<Client>();
  private readonly topics = new Map<string, Topic>();
  /** Topics of a device (`dev:` keys) among them. */
  private deviceTopics = 0;
  private readonly series = new Map<bigint, Series>();
  /** Bumped when the set of selector topics changes: series re-match lazily. */
  private version = 0;
  private nextRef = 1;
  /**
   * The tap epoch: the core leaves out label sets it already returned under
   * it. A new one whenever this hub may lack a label set it was sent (it
   * forgot series, or a batch's result never reached accepted()).
   */
  private epoch = nextEpoch();
  private parseOpts: ObserverParseOptions = Object.freeze({ latest: this.epoch });
  /** Series updated by local ingest since the last tick, each once: given to their topics at the tick. */
  private readonly changed: Series[] = [];
  /** Local updates another instance wants, with the device that wrote them. */
  private readonly outbound = new Map<Series, string | undefined>();
  private interestChanged = false;
  private lastFlush = 0;
  private nextStatus = 0;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private closed = false;

  private readonly framesSent: client.Counter;
  private readonly skipped: client.Counter<'reason'>;
  private readonly dropped: client.Counter<'reason'>;
  private readonly refused: client.Counter<'code'>;
  private readonly remoteUpdates: client.Counter;

  constructor(o: LiveHubOptions) {
    if (!(o.maxRate > 0 && o.maxRate <= 1000)) throw new RangeError(`maxRate must be in (0, 1000], got ${o.maxRate}`);
    this.maxRate = o.maxRate;
    this.intervalMs = 1000 / o.maxRate;
    this.verify = o.verify;
    this.status = o.status;
    this.instanceId = o.instanceId ?? randomUUID();
    this.shared = o.cache !== undefined && o.cache.kind === 'redis' ? o.cache : undefined;
    this.skipBytes = o.skipBufferedBytes ?? 256 * 1024;
    this.slowClientMs = o.slowClientMs ?? 10_000;
    this.maxBackpressure = o.maxBackpressureBytes ?? 4 * 1024 * 1024;
    this.maxSubscriptions = o.maxSubscriptions ?? 100;
    this.maxSeriesPerTopic = o.maxSeriesPerTopic ?? 10_000;
    this.maxSeries = o.maxSeries ?? 100_000;
    this.onCacheError = o.onCacheError ?? (() => {});

    const registers = [o.registry];
    const hub = this;
    new client.Gauge({
      name: 'sentio_live_subscribers',
      help: 'Dashboard clients connected to /live.',
      registers,
      collect() {
        this.set(hub.clients.size);
      },
    });
    new client.Gauge({
      name: 'sentio_live_subscriptions',
      help: 'Subscriptions of the clients connected to /live.',
      registers,
      collect() {
        let n = 0;
        for (const c of hub.clients) n += c.subs.size;
        this.set(n);
      },
    });
    new client.Gauge({
      name: 'sentio_live_topics',
      help: 'Live topics (canonical selectors and devices): with subscribers here (scope="local"), wanted by other instances (scope="remote").',
      labelNames: ['scope'],
      registers,
      collect() {
        let local = 0;
        let remote = 0;
        for (const t of hub.topics.values()) {
          if (t.local > 0) local++;
          if (t.remote.size > 0) remote++;
        }
        this.labels('local').set(local);
        this.labels('remote').set(remote);
      },
    });
    this.framesSent = new client.Counter({ name: 'sentio_live_frames_sent_total', help: 'Data frames sent to /live clients (a frame published to a topic counts once per subscriber).', registers });
    this.skipped = new client.Counter({
      name: 'sentio_live_updates_skipped_total',
      help: 'Series updates not sent: to a client over its buffer limit (backpressure), or beyond a topic\'s series limit (series_limit).',
      labelNames: ['reason'],
      registers,
    });
    this.dropped = new client.Counter({ name: 'sentio_live_clients_dropped_total', help: '/live clients closed for being too slow (backpressure).', labelNames: ['reason'], registers });
    this.refused = new client.Counter({ name: 'sentio_live_refused_total', help: '/live upgrades refused, by error code.', labelNames: ['code'], registers });
    this.remoteUpdates = new client.Counter({ name: 'sentio_live_remote_updates_total', help: 'Series updates received from other instances.', registers });
    for (const r of ['backpressure', 'series_limit']) this.skipped.labels(r).inc(0);
    this.dropped.labels('backpressure').inc(0);

    if (this.shared) {
      this.ready = this.shared.subscribe(CHANNEL, (m) => this.onShared(m)).then((u) => {
        if (this.closed) return u();
        this.unsubscribe = u;
      });
      this.ready.catch((err: unknown) => this.onCacheError(err)); // also reported to whoever awaits `ready`
    } else {
      this.ready = Promise.resolve();
    }
  }

  // ---- ingest path -------------------------------------------------------

  /** While any topic exists: ask the core for the latest sample of each series. */
  parseOptions(): ObserverParseOptions | undefined {
    return this.topics.size > 0 ? this.parseOpts : undefined;
  }

  /** A device's topic takes the series of that device's own batches: it needs each batch's own tap, not one of several merged batches. */
  needsEachBatch(): boolean {
    return this.deviceTopics > 0;
  }

  accepted(result: IngestResult, opts: BatchOptions): void {
    if (this.topics.size === 0 || result.latest === undefined) return;
    this.mergeLatest(result.latest, opts.principal.deviceId);
  }

  /** The packed tap (LatestSamples in src/native/types.ts): O(distinct series), no per-topic work. */
  private mergeLatest(l: LatestSamples, deviceId: string | undefined): void {
    const b = new DataView(l.buffer, l.byteOffset, l.byteLength);
    const n = b.getUint32(0, true);
    if (n === 0) return;
    const epoch = b.getUint32(4, true);
    const tsAt = 8 + n * 8;
    const valueAt = 8 + n * 16;
    const offsetAt = 8 + n * 24;
    const defsAt = offsetAt + (n + 1) * 4;
    let defs: Buffer | undefined;
    const device = deviceId !== undefined ? this.topics.get(`dev:${deviceId}`) : undefined;
    for (let i = 0; i < n; i++) {
      const id = b.getBigInt64(8 + i * 8, true);
      let s = this.series.get(id);
      if (s === undefined) {
        const start = b.getUint32(offsetAt + i * 4, true);
        const end = b.getUint32(offsetAt + i * 4 + 4, true);
        if (start === end) {
          // Labels left out, yet unknown here: sent in a result that never
          // reached accepted(), or forgotten. Under the current epoch, start a
          // new one (every thread sends every label set again); this update
          // is lost, the series' next one is not.
          if (epoch === this.epoch) this.newEpoch();
          continue;
        }
        defs ??= Buffer.from(l.buffer, l.byteOffset + defsAt, l.byteLength - defsAt);
        s = this.addSeries(id, defs.toString('utf8', start, end));
      }
      if (s.version !== this.version) this.rematch(s);
      if (s.topics.length === 0 && device === undefined) continue;
      // i64 ms as two halves: exact for any timestamp a JS number holds.
      const ts = b.getInt32(tsAt + i * 8 + 4, true) * 4294967296 + b.getUint32(tsAt + i * 8, true);
      if (!this.update(s, ts, b.getFloat64(valueAt + i * 8, true))) continue;
      s.device = deviceId;
      if (!s.changed && s.topics.length > 0) {
        s.changed = true;
        this.changed.push(s);
      }
      if (device !== undefined) {
        this.touch(device, s);
        if (device.remote.size > 0) this.outbound.set(s, deviceId);
      }
    }
  }

  private newEpoch(): void {
    this.epoch = nextEpoch();
    this.parseOpts = Object.freeze({ latest: this.epoch });
  }

  /** Gives the series changed since the last tick to their selector topics (and to other instances that want them). */
  private distribute(): void {
    for (const s of this.changed) {
      s.changed = false;
      if (s.version !== this.version) this.rematch(s);
      let remote = false;
      for (const t of s.topics) {
        this.touch(t, s);
        if (t.remote.size > 0) remote = true;
      }
      if (remote) this.outbound.set(s, s.device);
    }
    this.changed.length = 0;
  }

  /** Takes a point when it is not older than the series' latest; false when it is. */
  private update(s: Series, ts: number, v: number): boolean {
    if (ts < s.ts) return false;
    s.ts = ts;
    s.v = v;
    return true;
  }

  private addSeries(id: bigint, json: string, labels?: Record<string, string>): Series {
    if (this.series.size >= this.maxSeries) {
      // Forgotten label sets: the tap must send them again.
      for (const [k, e] of this.series) if (e.held === 0 && !e.changed) this.series.delete(k);
      this.newEpoch();
    }
    const s: Series = {
      ref: this.nextRef++,
      id,
      labels: labels ?? (JSON.parse(json) as Record<string, string>),
      json,
      ts: Number.NEGATIVE_INFINITY,
      v: 0,
      version: -1,
      topics: [],
      held: 0,
      changed: false,
      device: undefined,
    };
    this.series.set(id, s);
    return s;
  }

  private rematch(s: Series): void {
    s.topics = [];
    for (const t of this.topics.values()) if (t.selector !== undefined && matchesLabels(t.selector, s.labels)) s.topics.push(t);
    s.version = this.version;
  }

  private touch(t: Topic, s: Series): void {
    if (!t.series.has(s.ref)) {
      if (t.series.size >= this.maxSeriesPerTopic) {
        this.skipped.labels('series_limit').inc();
        return;
      }
      t.series.set(s.ref, s);
      t.fresh.add(s.ref);
      s.held++;
    }
    t.dirty.add(s);
  }

  // ---- topics --------------------------------------------------------------

  /** The topic for a key, created when new (a `sel:` key is parsed: throws SENTIO_ERR_BAD_QUERY). */
  private topic(key: string): Topic {
    let t = this.topics.get(key);
    if (t === undefined) {
      const selector = key.startsWith('sel:') ? parseSelector(key.slice(4)) : undefined;
      t = new Topic(key, selector);
      this.topics.set(key, t);
      if (selector !== undefined) this.version++;
      else this.deviceTopics++;
    }
    return t;
  }

  private dropIfUnused(t: Topic): void {
    if (!t.unused || this.topics.get(t.key) !== t) return;
    this.topics.delete(t.key);
    for (const s of t.series.values()) s.held--;
    if (t.selector !== undefined) this.version++;
    else this.deviceTopics--;
  }

  // ---- ticks ---------------------------------------------------------------

  private readonly onTick = (): void => {
    this.timer = undefined;
    if (this.closed) return;
    const now = nowMs();
    const wait = this.lastFlush + this.intervalMs - now;
    if (wait > 0) {
      this.timer = setTimeout(this.onTick, Math.ceil(wait)).unref();
      return;
    }
    this.lastFlush = now;
    try {
      this.flush(now);
      if (now >= this.nextStatus) {
        this.nextStatus = now + STATUS_MS;
        this.statusTick(now);
      }
    } finally {
      // Whatever failed in this tick, the next one comes.
      this.timer = setTimeout(this.onTick, Math.ceil(this.intervalMs)).unref();
    }
  };

  private flush(now: number): void {
    const app = this.app;
    if (app === undefined) return;
    this.distribute();
    this.checkClients(now);
    for (const t of this.topics.values()) {
      if (t.dirty.size === 0) continue;
      if (t.local > 0) {
        const receivers = app.numSubscribers(t.key);
        if (receivers > 0) {
          app.publish(t.key, this.frame(t, now, t.dirty, false), false, false);
          this.framesSent.inc(receivers);
        }
      }
      t.dirty.clear();
    }
    if (this.shared !== undefined && this.outbound.size > 0) this.publishUpdates();
    if (this.interestChanged) this.publishInterest();
  }

  /** Skips, resumes or drops clients by how much they have not read yet. */
  private checkClients(now: number): void {
    for (const c of this.clients) {
      const ws = c.ws;
      if (ws === undefined || c.closed) continue;
      const buffered = ws.getBufferedAmount();
      if (c.lagSince === 0) {
        if (buffered <= this.skipBytes) continue;
        c.lagSince = now;
        for (const topic of ws.getTopics()) ws.unsubscribe(topic);
      } else if (buffered <= this.skipBytes / 2) {
        this.resume(c, ws, now);
        continue;
      } else if (now - c.lagSince > this.slowClientMs) {
        this.drop(c, ws);
        continue;
      }
      let missed = 0;
      for (const t of new Set(c.subs.values())) missed += t.dirty.size;
      if (missed > 0) this.skipped.labels('backpressure').inc(missed);
    }
  }

  /** A lagging client caught up: back on its topics, with a snapshot of each. */
  private resume(c: Client, ws: WebSocket<Client>, now: number): void {
    c.lagSince = 0;
    ws.subscribe(STATUS_TOPIC);
    ws.cork(() => {
      for (const t of new Set(c.subs.values())) {
        ws.subscribe(t.key);
        if (t.series.size > 0 && !this.send(c, ws, this.frame(t, now, t.series.values(), true))) return;
      }
    });
  }

  private drop(c: Client, ws: WebSocket<Client>): void {
    this.dropped.labels('backpressure').inc();
    c.closed = true;
    ws.end(CLOSE_TOO_SLOW, 'too slow');
  }

  private frame(t: Topic, now: number, series: Iterable<Series>, snapshot: boolean): string {
    let out = `{"type":"data","topic":${t.keyJson},"t":${now}${snapshot ? ',"snapshot":true' : ''},"series":[`;
    let sep = '';
    for (const s of series) {
      // Labels with a ref's first appearance in the stream, and in every snapshot.
      const labels = snapshot || t.fresh.delete(s.ref);
      out += `${sep}{"ref":${s.ref}${labels ? `,"labels":${s.json}` : ''},"p":[${s.ts},${jsonValue(s.v)}]}`;
      sep = ',';
    }
    return `${out}]}`;
  }

  private statusTick(now: number): void {
    if (this.app !== undefined && this.clients.size > 0) {
      let frame: string;
      try {
        frame = JSON.stringify({ type: 'status', t: now, status: this.status() });
      } catch (err) {
        frame = JSON.stringify({ type: 'status', t: now, status: null, error: (err as Error).message });
      }
      this.app.publish(STATUS_TOPIC, frame, false, false);
    }
    // Interest of other instances lapses unless renewed.
    for (const t of [...this.topics.values()]) {
      for (const [from, until] of t.remote) if (until < now) t.remote.delete(from);
      this.dropIfUnused(t);
    }
    if (this.shared !== undefined && this.localTopics().length > 0) this.interestChanged = true;
  }

  // ---- across instances ------------------------------------------------------

  private localTopics(): string[] {
    const keys: string[] = [];
    for (const t of this.topics.values()) if (t.local > 0) keys.push(t.key);
    return keys;
  }

  private publishInterest(): void {
    this.interestChanged = false;
    this.publishShared(JSON.stringify({ k: 'interest', from: this.instanceId, topics: this.localTopics() }));
  }

  private publishUpdates(): void {
    let out = `{"k":"data","from":${JSON.stringify(this.instanceId)},"series":[`;
    let sep = '';
    for (const [s, device] of this.outbound) {
      out += `${sep}["${s.id}",${s.json},${s.ts},${jsonValue(s.v)},${device === undefined ? 'null' : JSON.stringify(device)}]`;
      sep = ',';
    }
    this.outbound.clear();
    this.publishShared(`${out}]}`);
  }

  private publishShared(message: string): void {
    // At most once, like the cache's pub/sub: a failed publish is a lost tick (counted).
    this.shared?.publish(CHANNEL, message).catch((err: unknown) => this.onCacheError(err));
  }

  private onShared(message: string): void {
    if (this.closed) return;
    let m: { k?: unknown; from?: unknown; topics?: unknown; series?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    if (typeof m.from !== 'string' || m.from === this.instanceId) return;
    if (m.k === 'interest' && Array.isArray(m.topics)) this.remoteInterest(m.from, m.topics);
    else if (m.k === 'data' && Array.isArray(m.series)) this.remoteData(m.series);
  }

  private remoteInterest(from: string, keys: unknown[]): void {
    const until = nowMs() + INTEREST_TTL_MS;
    const wanted = new Set<Topic>();
    for (const key of keys) {
      if (typeof key !== 'string' || !(key.startsWith('sel:') || key.startsWith('dev:'))) continue;
      try {
        const t = this.topic(key);
        t.remote.set(from, until);
        wanted.add(t);
      } catch {
        // a selector this instance cannot parse: nothing to serve
      }
    }
    for (const t of [...this.topics.values()]) {
      if (!wanted.has(t) && t.remote.delete(from)) this.dropIfUnused(t);
    }
  }

  private remoteData(entries: unknown[]): void {
    for (const e of entries) {
      if (!Array.isArray(e) || e.length < 5) continue;
      const [idText, labels, ts, value, device] = e as [unknown, unknown, unknown, unknown, unknown];
      const v = parseValue(value);
      if (typeof idText !== 'string' || typeof labels !== 'object' || labels === null || typeof ts !== 'number' || v === undefined) continue;
      let id: bigint;
      try {
        id = BigInt(idText);
      } catch {
        continue;
      }
      let s = this.series.get(id);
      if (s === undefined) s = this.addSeries(id, JSON.stringify(labels), labels as Record<string, string>);
      if (s.version !== this.version) this.rematch(s);
      const dev = typeof device === 'string' ? this.topics.get(`dev:${device}`) : undefined;
      if ((s.topics.length === 0 && dev === undefined) || !this.update(s, ts, v)) continue;
      this.remoteUpdates.inc();
      for (const t of s.topics) if (t.local > 0) this.touch(t, s);
      if (dev !== undefined && dev.local > 0) this.touch(dev, s);
    }
  }

  // ---- WebSocket -------------------------------------------------------------

  /** Adds `GET /live` to the app and starts the ticks. */
  register(app: TemplatedApp): void {
    if (this.app !== undefined) throw new Error('LiveHub.register: already registered');
    this.app = app;
    const hub = this;
    app.ws<Client>('/live', {
      maxPayloadLength: MAX_MESSAGE_BYTES,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      maxBackpressure: this.maxBackpressure,
      // The typings say number; the addon reads it as a flag.
      closeOnBackpressureLimit: 1,

      upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t) {
        const state = watchAbort(res);
        // The request is only valid until this callback returns: read it all now.
        const protocol = req.getHeader('sec-websocket-protocol');
        const key = req.getHeader('sec-websocket-key');
        const extensions = req.getHeader('sec-websocket-extensions');
        const { token, viaProtocol } = presentedLiveToken(req.getQuery() ?? '', req.getHeader('authorization'), protocol);
        const refuse = (e: SentioError): void => {
          hub.refused.labels(e.code).inc();
          sendError(res, state, e);
        };
        if (hub.closed) return refuse(new SentioError('SENTIO_ERR_NOT_READY'));
        if (token === undefined) {
          return refuse(new SentioError('SENTIO_ERR_UNAUTHORIZED', 'an access token is required: ?access_token=, Authorization: Bearer, or Sec-WebSocket-Protocol: bearer, <token>'));
        }
        hub.verify(token).then(
          (user) => {
            if (user.expiresAtMs <= Date.now()) return refuse(new SentioError('SENTIO_ERR_TOKEN_EXPIRED'));
            if (state.aborted) return;
            if (hub.closed) return refuse(new SentioError('SENTIO_ERR_NOT_READY'));
            const c: Client = { user, ws: undefined, subs: new Map(), lagSince: 0, expiry: undefined, closed: false };
            res.cork(() => res.upgrade<Client>(c, key, viaProtocol ? 'bearer' : '', extensions, context));
          },
          (err: unknown) => refuse(authError(err)),
        );
      },

      open(ws: WebSocket<Client>) {
        const c = ws.getUserData();
        c.ws = ws;
        hub.clients.add(c);
        ws.subscribe(STATUS_TOPIC);
        hub.armExpiry(c);
        const { userId, username, role } = c.user;
        hub.send(c, ws, JSON.stringify({ type: 'welcome', instance: hub.instanceId, user: { userId, username, role }, expiresAtMs: c.user.expiresAtMs, maxRate: hub.maxRate, intervalMs: hub.intervalMs }));
      },

      message(ws: WebSocket<Client>, message: ArrayBuffer, isBinary: boolean) {
        const c = ws.getUserData();
        if (c.closed) return;
        if (isBinary) return hub.replyError(c, ws, undefined, new SentioError('SENTIO_ERR_BAD_REQUEST', 'messages are JSON text frames'));
        let m: Record<string, unknown>;
        try {
          const parsed: unknown = JSON.parse(Buffer.from(message).toString('utf8'));
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
          m = parsed as Record<string, unknown>;
        } catch {
          return hub.replyError(c, ws, undefined, new SentioError('SENTIO_ERR_BAD_REQUEST', 'messages are JSON objects with a "type"'));
        }
        try {
          hub.onMessage(c, ws, m);
        } catch (err) {
          hub.replyError(c, ws, typeof m.id === 'string' ? m.id : undefined, asSentioError(err));
        }
      },

      drain(ws: WebSocket<Client>) {
        const c = ws.getUserData();
        if (c.lagSince !== 0 && !c.closed && ws.getBufferedAmount() <= hub.skipBytes / 2) hub.resume(c, ws, nowMs());
      },

      close(ws: WebSocket<Client>) {
        hub.onClose(ws.getUserData());
      },
    });
    this.timer = setTimeout(this.onTick, Math.ceil(this.intervalMs)).unref();
  }

  private onMessage(c: Client, ws: WebSocket<Client>, m: Record<string, unknown>): void {
    const id = m.id;
    switch (m.type) {
      case 'subscribe': {
        if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_CHARS) throw new SentioError('SENTIO_ERR_BAD_REQUEST', `subscribe needs an "id" of 1 to ${MAX_ID_CHARS} characters`);
        if (c.subs.has(id)) throw new SentioError('SENTIO_ERR_CONFLICT', `subscription "${id}" exists; unsubscribe it first`);
        if (c.subs.size >= this.maxSubscriptions) throw new SentioError('SENTIO_ERR_BAD_REQUEST', `at most ${this.maxSubscriptions} subscriptions per connection`);
        const { selector, device } = m;
        let key: string;
        if (typeof selector === 'string' && device === undefined) {
          key = `sel:${formatSelector(parseSelector(selector))}`;
        } else if (typeof device === 'string' && selector === undefined && device.length > 0 && device.length <= MAX_DEVICE_CHARS) {
          key = `dev:${device}`;
        } else {
          throw new SentioError('SENTIO_ERR_BAD_REQUEST', `subscribe needs either "selector" (a series selector) or "device" (a device id of 1 to ${MAX_DEVICE_CHARS} characters)`);
        }
        return this.subscribe(c, ws, id, key);
      }
      case 'unsubscribe': {
        const t = typeof id === 'string' ? c.subs.get(id) : undefined;
        if (t === undefined) throw new SentioError('SENTIO_ERR_NOT_FOUND', `no subscription ${JSON.stringify(id)}`);
        c.subs.delete(id as string);
        this.leave(c, ws, t);
        this.send(c, ws, JSON.stringify({ type: 'unsubscribed', id }));
        return;
      }
      case 'auth': {
        if (typeof m.token !== 'string' || m.token === '') throw new SentioError('SENTIO_ERR_BAD_REQUEST', 'auth needs a "token"');
        this.verify(m.token).then(
          (user) => {
            if (c.closed) return;
            if (user.userId !== c.user.userId) throw new SentioError('SENTIO_ERR_FORBIDDEN', 'the token belongs to another user');
            if (user.expiresAtMs <= Date.now()) throw new SentioError('SENTIO_ERR_TOKEN_EXPIRED');
            c.user = user;
            this.armExpiry(c);
            ws.cork(() => this.send(c, ws, JSON.stringify({ type: 'auth', expiresAtMs: user.expiresAtMs })));
          },
        ).catch((err: unknown) => {
          if (!c.closed) ws.cork(() => this.replyError(c, ws, undefined, authError(err)));
        });
        return;
      }
      default:
        throw new SentioError('SENTIO_ERR_BAD_REQUEST', `unknown message type ${JSON.stringify(m.type)} (subscribe, unsubscribe or auth)`);
    }
  }

  private subscribe(c: Client, ws: WebSocket<Client>, id: string, key: string): void {
    const t = this.topic(key);
    let already = false;
    for (const other of c.subs.values()) if (other === t) already = true;
    c.subs.set(id, t);
    if (!already) {
      if (t.local++ === 0) this.interestChanged = true;
      if (c.lagSince === 0) ws.subscribe(key);
    }
    if (!this.send(c, ws, JSON.stringify({ type: 'subscribed', id, topic: key }))) return;
    if (t.series.size > 0 && c.lagSince === 0) this.send(c, ws, this.frame(t, nowMs(), t.series.values(), true));
  }

  /** The client no longer needs `t` for one subscription; drops it when no other of its subscriptions does. */
  private leave(c: Client, ws: WebSocket<Client> | undefined, t: Topic): void {
    for (const other of c.subs.values()) if (other === t) return;
    ws?.unsubscribe(t.key);
    if (--t.local === 0) {
      this.interestChanged = true;
      this.dropIfUnused(t);
    }
  }

  private onClose(c: Client): void {
    c.closed = true;
    clearTimeout(c.expiry);
    if (!this.clients.delete(c)) return;
    const topics = new Set(c.subs.values());
    c.subs.clear();
    for (const t of topics) this.leave(c, undefined, t);
  }

  private armExpiry(c: Client): void {
    clearTimeout(c.expiry);
    const delay = Math.min(Math.max(0, c.user.expiresAtMs - Date.now()), MAX_TIMER_MS);
    c.expiry = setTimeout(() => {
      if (c.closed || c.ws === undefined) return;
      if (c.user.expiresAtMs > Date.now()) return this.armExpiry(c);
      c.closed = true;
      c.ws.end(CLOSE_TOKEN_EXPIRED, 'token expired');
    }, delay).unref();
  }

  /** Sends unless uWS refuses (over maxBackpressure: it then closes the socket, counted as a drop). */
  private send(c: Client, ws: WebSocket<Client>, text: string): boolean {
    if (c.closed) return false;
    if (ws.send(text, false, false) === 2) {
      this.dropped.labels('backpressure').inc();
      c.closed = true;
      return false;
    }
    return true;
  }

  private replyError(c: Client, ws: WebSocket<Client>, id: string | undefined, e: SentioError): void {
    this.send(c, ws, JSON.stringify({ type: 'error', ...(id !== undefined ? { id } : {}), code: e.code, message: e.message }));
  }

  /** Stops the ticks, leaves the shared channel and closes every client (1001). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const c of [...this.clients]) {
      const ws = c.ws;
      this.onClose(c);
      ws?.end(CLOSE_GOING_AWAY, 'server shutting down');
    }
    this.topics.clear();
    this.deviceTopics = 0;
    this.series.clear();
    this.changed.length = 0;
    this.outbound.clear();
    const u = this.unsubscribe;
    this.unsubscribe = undefined;
    if (u !== undefined) await u();
    else await this.ready.catch(() => {});
  }
}
