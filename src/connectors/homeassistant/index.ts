// Home Assistant connector: reads the states of a Home Assistant instance
// (its entities: sensors, switches, lights, climates...) over its WebSocket
// API (./ws-api.ts) and REST API, and writes them as samples (./codec.ts):
// `homeassistant_<domain>` and `homeassistant_<domain>_<attribute>` with the
// labels entity_id, domain, friendly_name, unit_of_measurement, device_class,
// area and connector, stamped with each state's last_updated.
//
// Each connection, in this order (so nothing is missed between the steps):
// 1. authenticate with the long-lived access token;
// 2. subscribe to state_changed (and to the three registries' updated
//    events); events that arrive before step 4 is done are held;
// 3. read the entity, device and area registries (areas, by entity);
// 4. GET /api/states: every current state; the held events are written,
//    then the states not older than what they said. A state is written
//    once: a reconnect writes only what changed while away.
// Then every state_changed event is written as it comes.
//
// - Which entities: ./filter.ts. `unavailable` and `unknown` states are
//   counted (status unavailableTotal, sentio_connector_unavailable_total),
//   never written; other text states are not values and are skipped.
// - HA refusing the token (auth_invalid, or HTTP 401/403) puts the connector
//   in `failed`, and it tries again at the longest backoff (a token is not
//   fixed by retrying: by a new config). A connection that cannot be made,
//   ends (HA restarting) or misses a pong is retried with exponential
//   backoff and jitter (`backoff`), and the steps above run again.
// - A message that cannot be read is counted (unparseable), never thrown;
//   a bug in a handler is counted the same way and logged.

import { Agent, request } from 'undici';
import type { Principal } from '../../auth/index.js';
import { Backoff } from '../backoff.js';
import { ReadingsBatcher } from '../batcher.js';
import type { Connector, ConnectorContext } from '../types.js';
import { asState, DecodeError, type Emit, type HaState, StateMapper, stateTime } from './codec.js';
import type { HomeAssistantConfig } from './config.js';
import { EntityFilter } from './filter.js';
import { type AreaIndex, areaIndex } from './registry.js';
import { AuthRefused, type HaEvent, HaSocket } from './ws-api.js';

export const PROTOCOL = 'homeassistant';

const STOP_GRACE_MS = 5000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 60_000;
const DEFAULT_PING_S = 30;
const REQUEST_TIMEOUT_MS = 30_000;
/** Events held while a connection's first states are read; beyond, they are dropped (counted). */
const MAX_HELD_EVENTS = 100_000;
/** Registry updates come in bursts (a device added brings its entities): one reload after the burst. */
const REGISTRY_RELOAD_DELAY_MS = 200;
const REGISTRY_EVENTS = ['area_registry_updated', 'device_registry_updated', 'entity_registry_updated'] as const;
/** Entities whose last written state is remembered; beyond, the memory starts again (a reconnect then rewrites some states). */
const MAX_SEEN = 200_000;

interface Session {
  socket: HaSocket;
  /** Its first states are written: events are written as they come. */
  live: boolean;
  /** Ended (lost or stopped): nothing more is done for it. */
  done: boolean;
  held: HaEvent[];
  reloadTimer?: NodeJS.Timeout | undefined;
}

export class HomeAssistantConnector implements Connector {
  private readonly batcher: ReadingsBatcher;
  private readonly backoff = new Backoff({ baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS });
  private readonly filter: EntityFilter;
  private readonly mapper: StateMapper;
  private readonly principal: Principal;
  private readonly base: string;
  private readonly agent: Agent | undefined;
  private areas: AreaIndex = new Map();
  /** entity_id → last_updated (ms) of the newest state written (or counted) for it. */
  private readonly seen = new Map<string, number>();
  private session: Session | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly emit: Emit;

  constructor(
    private readonly cfg: HomeAssistantConfig,
    private readonly ctx: ConnectorContext,
  ) {
    this.base = cfg.url.replace(/\/+$/, '');
    this.filter = new EntityFilter(cfg);
    this.mapper = new StateMapper({ attributes: cfg.attributes ?? true, area: (id) => this.areas.get(id) });
    this.principal = { key: `connector:${ctx.name}`, labels: { connector: ctx.name } };
    this.batcher = new ReadingsBatcher({ port: ctx.port, protocol: PROTOCOL, principal: this.principal, status: ctx.status });
    this.agent = cfg.tls !== undefined ? new Agent({ connect: { ...(cfg.tls.ca !== undefined ? { ca: cfg.tls.ca } : {}), rejectUnauthorized: cfg.tls.rejectUnauthorized ?? true } }) : undefined;
    this.emit = (key, labels, ts, value) => this.batcher.sample(key, labels, ts, value);
  }

  async start(): Promise<void> {
    this.ctx.status.set('connecting');
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = new HaSocket({
      url: `${this.base.replace(/^http/, 'ws')}/api/websocket`,
      token: this.cfg.token,
      ca: this.cfg.tls?.ca,
      rejectUnauthorized: this.cfg.tls?.rejectUnauthorized,
      pingIntervalMs: (this.cfg.pingIntervalSeconds ?? DEFAULT_PING_S) * 1000,
      onUnparseable: (reason) => this.ctx.status.unparseable(1, reason),
      onClose: (reason) => this.lost(s, new Error(reason)),
    });
    const s: Session = { socket, live: false, done: false, held: [] };
    this.session = s;
    this.setup(s).catch((err: Error) => this.lost(s, err));
  }

  /** Steps 1–4 of the file's comment, on a new connection. */
  private async setup(s: Session): Promise<void> {
    const { status, log } = this.ctx;
    await s.socket.open();
    if (s.done) return;
    await Promise.all([
      s.socket.subscribe('state_changed', (e) => this.onStateChanged(s, e)),
      ...REGISTRY_EVENTS.map((t) => s.socket.subscribe(t, () => this.registryChanged(s))),
    ]);
    await this.loadRegistries(s);
    const states = await this.fetchStates();
    if (s.done) return;
    for (const e of s.held) this.onStateChanged(s, e, true);
    s.held = [];
    s.live = true;
    this.writeSnapshot(states);
    this.backoff.reset();
    status.set('up');
    status.success();
    log.info(`connector ${this.ctx.name}: connected to Home Assistant ${s.socket.haVersion ?? ''} at ${this.base}: ${states.length} states`);
  }

  /** The session ended (it failed, or its connection closed): reconnect after a backoff, unless stopped or replaced. */
  private lost(s: Session, err: Error): void {
    if (s.done) return;
    s.done = true;
    clearTimeout(s.reloadTimer);
    void s.socket.close();
    if (this.stopped || this.session !== s) return;
    const { status, log } = this.ctx;
    let wait: number;
    if (err instanceof AuthRefused || s.socket.authRefused) {
      status.set('failed');
      status.failure(`${err.message}; check the token (a long-lived access token of a Home Assistant user)`);
      // Retrying will not fix a token: the longest backoff, jittered.
      wait = Math.round(BACKOFF_MAX_MS * (0.5 + 0.5 * Math.random()));
    } else {
      if (status.state !== 'failed') status.set('backoff');
      status.failure(err.message);
      wait = this.backoff.next();
    }
    log.warn(`connector ${this.ctx.name}: ${err.message}; reconnecting in ${wait} ms`);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (this.stopped) return;
      if (status.state !== 'failed') status.set('connecting');
      this.connect();
    }, wait);
  }

  private async loadRegistries(s: Session): Promise<void> {
    try {
      const [entities, devices, areas] = await Promise.all([
        s.socket.command('config/entity_registry/list'),
        s.socket.command('config/device_registry/list'),
        s.socket.command('config/area_registry/list'),
      ]);
      if (s.done) return;
      this.areas = areaIndex(entities, devices, areas);
      this.mapper.forget();
    } catch (err) {
      if (s.done) throw err;
      // Without the registries (the `config` integration not loaded, a user not allowed) samples carry no area.
      this.ctx.status.failure(`the registries could not be read, so samples carry no area: ${(err as Error).message}`);
    }
  }

  private registryChanged(s: Session): void {
    if (s.reloadTimer !== undefined || s.done) return;
    s.reloadTimer = setTimeout(() => {
      s.reloadTimer = undefined;
      if (!s.done) void this.loadRegistries(s).catch(() => undefined);
    }, REGISTRY_RELOAD_DELAY_MS);
  }

  /** GET /api/states: every state. */
  private async fetchStates(): Promise<unknown[]> {
    const url = `${this.base}/api/states`;
    const res = await request(url, {
      headers: { authorization: `Bearer ${this.cfg.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      ...(this.agent !== undefined ? { dispatcher: this.agent } : {}),
    });
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump();
      throw new AuthRefused(`GET /api/states: HTTP ${res.statusCode}: Home Assistant refused the access token`);
    }
    if (res.statusCode !== 200) {
      const text = (await res.body.text()).slice(0, 200);
      throw new Error(`GET /api/states: HTTP ${res.statusCode}${res.statusCode === 404 ? ' (is the api integration loaded?)' : ''}: ${text}`);
    }
    const body: unknown = await res.body.json();
    if (!Array.isArray(body)) throw new Error('GET /api/states: the answer is not a list of states');
    return body;
  }

  /** One state_changed event (`held`: one held during setup, written now). */
  private onStateChanged(s: Session, e: HaEvent, held = false): void {
    if (s.done) return;
    if (!s.live && !held) {
      if (s.held.length < MAX_HELD_EVENTS) s.held.push(e);
      else this.ctx.status.dropped(1, 'overflow');
      return;
    }
    const { status } = this.ctx;
    status.messages(1);
    const before = this.batcher.pendingSamples;
    const data = e.data as { entity_id?: unknown; new_state?: unknown } | null;
    try {
      if (data === null || typeof data !== 'object' || typeof data.entity_id !== 'string') throw new DecodeError('a state_changed event without an entity_id');
      // An entity removed: nothing to write.
      if (data.new_state === null || data.new_state === undefined) return;
      if (!this.filter.matches(data.entity_id)) return;
      this.write(asState(data.new_state), false);
    } catch (err) {
      this.bad(err);
    }
    this.end(before);
  }

  private writeSnapshot(states: unknown[]): void {
    this.ctx.status.messages(1);
    const before = this.batcher.pendingSamples;
    for (const v of states) {
      try {
        const id = (v as { entity_id?: unknown } | null)?.entity_id;
        if (typeof id === 'string' && !this.filter.matches(id)) continue;
        this.write(asState(v), true);
      } catch (err) {
        this.bad(err);
      }
    }
    this.end(before);
  }

  /** Writes one state; `snapshot`: skipped when not newer than the last one written for its entity. */
  private write(state: HaState, snapshot: boolean): void {
    const ts = stateTime(state);
    const seen = this.seen.get(state.entity_id);
    if (snapshot && seen !== undefined && ts <= seen) return;
    if (seen === undefined || ts > seen) {
      if (seen === undefined && this.seen.size >= MAX_SEEN) this.seen.clear();
      this.seen.set(state.entity_id, ts);
    }
    if (this.batcher.full) {
      let n = 0;
      this.mapper.map(state, ts, () => n++);
      this.ctx.status.dropped(n, 'overflow');
      return;
    }
    if (this.mapper.map(state, ts, this.emit) === 'unavailable') this.ctx.status.unavailable(1);
  }

  private bad(err: unknown): void {
    // A bug must not end the process (this runs inside the socket's message event): counted like bad data, and logged.
    if (!(err instanceof DecodeError)) this.ctx.log.error(`connector ${this.ctx.name}: a state could not be written: ${(err as Error).stack ?? String(err)}`);
    this.ctx.status.unparseable(1, (err as Error).message);
  }

  /** Ends a message (`before`: the samples pending when it began): what it sampled goes to the pipeline. */
  private end(before: number): void {
    if (this.batcher.pendingSamples > before) this.ctx.status.success();
    // Nothing to acknowledge to HA: a batch not stored before a stop is counted by the batcher.
    this.batcher.end().catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const s = this.session;
    if (s !== undefined) {
      s.done = true;
      clearTimeout(s.reloadTimer);
    }
    await Promise.allSettled([s?.socket.close(), this.batcher.close(STOP_GRACE_MS)]);
    await this.agent?.close().catch(() => undefined);
    this.ctx.status.set('stopped');
  }
}
