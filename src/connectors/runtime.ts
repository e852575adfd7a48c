// The connector runtime: runs the enabled connectors of the metadata store,
// each on exactly one gateway instance of those sharing the store.
//
// - Every RENEW_MS (and at once after a change through the API: changed())
//   it reads the connectors and reconciles: a connector enabled, of a kind
//   this gateway runs, is started where its lease (`connector:<id>`, in the
//   store, by the database's clock) is taken; a changed config (its
//   updatedAt) restarts it; a disabled or deleted one stops and its lease
//   is released, so another instance may take it at once.
// - A lease lives LEASE_TTL_MS and is renewed on every pass. An instance
//   that dies stops renewing; another one takes the connector over within
//   LEASE_TTL_MS + RENEW_MS (13 s). An instance that cannot renew (the store
//   unreachable) stops its connector before the lease can have expired, so
//   two never run at once.
// - Statuses: each running connector's ConnectorStatus; shared through the
//   cache (`connector-status:<id>`) so any instance's API shows where and
//   how each connector runs.
// - A connector whose config cannot start (stored before its kind checked
//   it, or a kind not available here) is `failed`, with the reason, until
//   its config changes.

import type { Cache } from '../cache/types.js';
import type { Logger } from '../log/index.js';
import type { IngestPort } from '../pipeline/port.js';
import type { ConnectorConfig, ConnectorVersion, MetaStore } from '../store/types.js';
import { SentioError } from '../errors.js';
import { kindDef, validateConnectorConfig } from './index.js';
import { type Browsed, browse } from './opcua/browse.js';
import type { OpcuaConfig } from './opcua/config.js';
import { type CertificateView, listCertificates, trustCertificate, untrustCertificate } from './opcua/trust.js';
import type { DeviceView, SeriesView, WatchedQuery } from './staleness.js';
import { type ConnectorMetrics, ConnectorStatus, type ConnectorStatusView } from './status.js';
import type { Connector } from './types.js';

export const LEASE_TTL_MS = 10_000;
export const RENEW_MS = 3_000;
const STATUS_TTL_MS = 3 * RENEW_MS;

export interface RuntimeOptions {
  store: MetaStore;
  cache: Cache;
  port: IngestPort;
  metrics: ConnectorMetrics;
  log: Logger;
  /** This instance (host:pid): the lease holder's name. */
  instance: string;
  /** The gateway's data directory (ConnectorContext.dataDir). */
  dataDir: string;
  leaseTtlMs?: number;
  renewMs?: number;
}

interface Running {
  config: ConnectorConfig;
  status: ConnectorStatus;
  connector: Connector | undefined;
  /** When the lease was last renewed (this process's clock). */
  renewedMs: number;
}

export class ConnectorRuntime {
  private readonly running = new Map<string, Running>();
  /** Connectors that could not start, by id: the updatedAt that failed, and its status. */
  private readonly broken = new Map<string, { config: ConnectorConfig; status: ConnectorStatus }>();
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> = Promise.resolve();
  private again = false;
  private closed = false;
  private readonly ttlMs: number;
  private readonly renewMs: number;

  constructor(private readonly o: RuntimeOptions) {
    this.ttlMs = o.leaseTtlMs ?? LEASE_TTL_MS;
    this.renewMs = o.renewMs ?? RENEW_MS;
  }

  /** The first pass, then one every renewMs. */
  async start(): Promise<void> {
    await this.changed();
    this.timer = setInterval(() => void this.changed(), this.renewMs);
    this.timer.unref();
  }

  /** Reconciles now (a config changed); resolves once a pass that started after this call is done. */
  changed(): Promise<void> {
    if (this.closed) return this.pass;
    if (this.again) return this.pass;
    this.again = true;
    this.pass = this.pass.then(async () => {
      this.again = false;
      if (this.closed) return;
      try {
        await this.reconcile();
      } catch (err) {
        this.o.log.error(`connectors: reconcile failed: ${(err as Error).message}`);
      }
    });
    return this.pass;
  }

  /** The status of connector `c`: from here when it runs here, else as its instance last shared it. */
  async status(c: ConnectorConfig): Promise<ConnectorStatusView> {
    const local = this.running.get(c.id)?.status ?? this.broken.get(c.id)?.status;
    if (local !== undefined) return local.view();
    if (c.enabled) {
      try {
        const shared = await this.o.cache.get(statusKey(c.id));
        if (shared !== undefined) return JSON.parse(shared) as ConnectorStatusView;
      } catch {
        // the cache is down: the status is unknown here
      }
    }
    return idle(c.enabled ? 'connecting' : 'stopped');
  }

  /**
   * Its devices or series with their freshness: from here when it runs here,
   * else as its instance last shared them (at most SHARED_DEVICES devices and
   * SHARED_SERIES series, stale ones first).
   */
  watched(c: ConnectorConfig, what: 'devices', o: WatchedQuery): Promise<DeviceView[]>;
  watched(c: ConnectorConfig, what: 'series', o: WatchedQuery): Promise<SeriesView[]>;
  async watched(c: ConnectorConfig, what: 'devices' | 'series', o: WatchedQuery): Promise<DeviceView[] | SeriesView[]> {
    const filter = { stale: o.stale };
    const local = this.running.get(c.id)?.status.watch;
    if (local !== undefined) return what === 'devices' ? local.deviceViews(filter, o.limit) : local.seriesViews(filter, o.limit);
    if (!c.enabled) return [];
    let shared: Shared | undefined;
    try {
      const v = await this.o.cache.get(watchKey(c.id));
      if (v !== undefined) shared = JSON.parse(v) as Shared;
    } catch {
      // the cache is down: nothing known here
    }
    const list: Array<DeviceView | SeriesView> = shared?.[what] ?? [];
    const stale = (v: DeviceView | SeriesView) => v.freshness === 'stale' || ('availability' in v && v.availability === 'offline');
    return (o.stale ? list.filter(stale) : list).slice(0, o.limit) as DeviceView[] | SeriesView[];
  }

  /** The nodes below `node` on the OPC-UA server of connector `c` (a short session of its own, with its config). */
  async browse(c: ConnectorConfig, node: string | undefined): Promise<Browsed> {
    if (c.kind !== 'opcua') throw new SentioError('SENTIO_ERR_VALIDATION', `connector ${c.name} is of kind ${c.kind}: only OPC-UA connectors can be browsed`);
    validateConnectorConfig(c.kind, c.config);
    try {
      return await browse(c.config as OpcuaConfig, node, { dataDir: this.o.dataDir, log: this.o.log });
    } catch (err) {
      if (err instanceof SentioError) throw err;
      throw new SentioError('SENTIO_ERR_PEER_UNAVAILABLE', `connector ${c.name}: browsing its server failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
  }

  /** The OPC-UA server certificates this gateway has seen, trusted or rejected (its data directory's PKI). */
  certificates(): Promise<CertificateView[]> {
    return listCertificates(this.o.dataDir);
  }

  trustCertificate(thumbprint: string, trusted: boolean): Promise<CertificateView> {
    return trusted ? trustCertificate(this.o.dataDir, thumbprint) : untrustCertificate(this.o.dataDir, thumbprint);
  }

  /** Ids of the connectors running on this instance. */
  get runningIds(): string[] {
    return [...this.running.keys()];
  }

  private async reconcile(): Promise<void> {
    const { store, log } = this.o;
    // The versions only (no configs): a pass every few seconds stays cheap however large the configs are.
    let list: ConnectorVersion[];
    try {
      list = await store.listConnectorVersions();
    } catch (err) {
      // Without the store no lease is renewed: stop what could be taken over before it can be.
      for (const [id, r] of this.running) {
        if (Date.now() - r.renewedMs > this.ttlMs - this.renewMs) {
          log.warn(`connector ${r.config.name}: the metadata store is unreachable, so its lease cannot be renewed; stopping it (${(err as Error).message})`);
          await this.stopOne(id, false);
        }
      }
      return;
    }
    const wanted = new Map(list.filter((c) => c.enabled).map((c) => [c.id, c]));
    for (const [id, r] of this.running) {
      const c = wanted.get(id);
      if (c === undefined || c.updatedAt !== r.config.updatedAt) await this.stopOne(id, true);
    }
    for (const [id, b] of this.broken) {
      const c = wanted.get(id);
      if (c === undefined || c.updatedAt !== b.config.updatedAt) {
        this.broken.delete(id);
        this.o.metrics.forget(b.config.name, b.config.kind);
      }
    }
    for (const v of wanted.values()) {
      if (this.broken.has(v.id)) continue;
      const r = this.running.get(v.id);
      let held: boolean;
      try {
        held = await store.acquireLease(leaseName(v.id), this.o.instance, this.ttlMs);
      } catch (err) {
        log.warn(`connector ${r?.config.name ?? v.id}: lease: ${(err as Error).message}`);
        continue;
      }
      if (r !== undefined) {
        if (held) r.renewedMs = Date.now();
        else {
          log.warn(`connector ${r.config.name}: another instance holds its lease now; stopping it here`);
          await this.stopOne(v.id, false);
        }
      } else if (held) {
        let c: ConnectorConfig | undefined;
        try {
          c = await store.getConnector(v.id);
        } catch (err) {
          log.warn(`connector ${v.id}: ${(err as Error).message}`);
        }
        // Changed or removed since the list: the next pass sees it as it is now.
        if (c?.enabled === true) await this.startOne(c);
        else await store.releaseLease(leaseName(v.id), this.o.instance).catch(() => undefined);
      }
    }
    await this.share();
  }

  private async startOne(c: ConnectorConfig): Promise<void> {
    const status = new ConnectorStatus(c.name, c.kind, this.o.metrics, this.o.instance);
    const def = kindDef(c.kind);
    let connector: Connector;
    try {
      validateConnectorConfig(c.kind, c.config);
      connector = def!.create(c.config, { name: c.name, port: this.o.port, status, log: this.o.log, dataDir: this.o.dataDir });
    } catch (err) {
      status.set('failed');
      status.failure(`cannot start: ${(err as Error).message}`);
      this.broken.set(c.id, { config: c, status });
      this.o.log.warn(`connector ${c.name} (${c.kind}) cannot start: ${(err as Error).message}`);
      await this.o.store.releaseLease(leaseName(c.id), this.o.instance).catch(() => undefined);
      return;
    }
    const r: Running = { config: c, status, connector, renewedMs: Date.now() };
    this.running.set(c.id, r);
    this.o.log.info(`connector ${c.name} (${c.kind}) starting on ${this.o.instance}`);
    try {
      await connector.start();
    } catch (err) {
      status.set('failed');
      status.failure(`start failed: ${(err as Error).message}`);
      this.o.log.warn(`connector ${c.name}: start failed: ${(err as Error).message}`);
    }
  }

  /** Stops connector `id` here; `release`: give its lease up (it is disabled, deleted or changed). */
  private async stopOne(id: string, release: boolean): Promise<void> {
    const r = this.running.get(id);
    if (r === undefined) return;
    this.running.delete(id);
    try {
      await r.connector?.stop();
    } catch (err) {
      this.o.log.warn(`connector ${r.config.name}: stop failed: ${(err as Error).message}`);
    }
    r.status.set('stopped');
    this.o.metrics.forget(r.config.name, r.config.kind);
    await this.o.cache.del(statusKey(id)).catch(() => undefined);
    await this.o.cache.del(watchKey(id)).catch(() => undefined);
    if (release) await this.o.store.releaseLease(leaseName(id), this.o.instance).catch(() => undefined);
  }

  /** Publishes the statuses of the connectors running here for the other instances' APIs (through Redis). */
  private async share(): Promise<void> {
    // An in-memory cache is this process's own: no other instance reads what would be shared.
    if (this.o.cache.kind === 'memory') return;
    const all = [...this.running.entries(), ...[...this.broken.entries()].map(([id, b]) => [id, b] as const)];
    await Promise.all(all.map(([id, r]) => this.o.cache.set(statusKey(id), JSON.stringify(r.status.view()), STATUS_TTL_MS).catch(() => undefined)));
    await Promise.all(
      [...this.running.entries()].map(([id, r]) => {
        const shared: Shared = { devices: r.status.watch.deviceViews(undefined, SHARED_DEVICES), series: r.status.watch.seriesViews(undefined, SHARED_SERIES) };
        return this.o.cache.set(watchKey(id), JSON.stringify(shared), STATUS_TTL_MS).catch(() => undefined);
      }),
    );
  }

  /** Stops every connector here (each with its own grace period) and releases their leases. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.pass;
    await Promise.all([...this.running.keys()].map((id) => this.stopOne(id, true)));
  }
}

function leaseName(id: string): string {
  return `connector:${id}`;
}

function statusKey(id: string): string {
  return `connector-status:${id}`;
}

function watchKey(id: string): string {
  return `connector-watch:${id}`;
}

/** What the instance running a connector shares of its watch. */
interface Shared {
  devices: DeviceView[];
  series: SeriesView[];
}
/** The most devices and series shared for the other instances' APIs (stale ones first). */
const SHARED_DEVICES = 2000;
const SHARED_SERIES = 1000;

function idle(state: 'connecting' | 'stopped'): ConnectorStatusView {
  return {
    state,
    since: new Date().toISOString(),
    lastSuccessAt: null,
    lastError: null,
    readingsPerSecond: 0,
    readingsTotal: 0,
    messagesTotal: 0,
    unparseableTotal: 0,
    droppedTotal: 0,
    instance: null,
    staleness: { series: { learning: 0, fresh: 0, stale: 0 }, devices: { learning: 0, fresh: 0, stale: 0, offline: 0 }, staleDeviceNames: [], untracked: 0 },
  };
}
