// What a connector reports: its state, its last success and last error, and
// what it read, dropped and could not parse. One ConnectorStatus per
// running connector; the runtime serves snapshots of it in the API (and, for
// connectors other instances run, shares them through the cache), and its
// counters are exported at /metrics:
//
//   sentio_connector_state{connector,kind,state}            1 for the current state
//   sentio_connector_readings_total{connector,kind}         samples written
//   sentio_connector_messages_total{connector,kind}         messages (events, polls) received
//   sentio_connector_unparseable_total{connector,kind}      messages that could not be decoded
//   sentio_connector_dropped_total{connector,kind,reason}   samples not stored, by reason
//   sentio_connector_errors_total{connector,kind}           connection and write errors
//   sentio_connector_unavailable_total{connector,kind}      states read as unavailable/unknown (Home Assistant)
//   sentio_connector_bad_status_total{connector,kind,status} values read with a status other than Good (OPC-UA)
//   sentio_connector_quarantined{connector,kind}            registers quarantined (Modbus)
//   sentio_connector_late_polls_total{connector,kind}       poll slots skipped because the one before overran (Modbus)
//   sentio_connector_last_success_timestamp_seconds{connector,kind}
//   sentio_connector_series{connector,kind,freshness}       series tracked, learning|fresh|stale
//   sentio_connector_devices{connector,kind,state}          devices tracked, learning|fresh|stale|offline
//   sentio_connector_device_stale{connector,kind,device}    1 while a device is stale (absent otherwise)
//
// The freshness of series and devices is learned (./staleness.ts) and
// counted at most once a second.

import client from 'prom-client';
import { type Freshness, Watch, type WatchCounts } from './staleness.js';

export type ConnectorState = 'connecting' | 'up' | 'backoff' | 'failed' | 'stopped';
export const connectorStates: readonly ConnectorState[] = ['connecting', 'up', 'backoff', 'failed', 'stopped'];

export interface ConnectorError {
  at: string;
  reason: string;
}

/** A register (or item) a device refuses to serve: polled alone, rarely, while everything else keeps flowing. */
export interface QuarantinedView {
  name: string;
  /** Its device. */
  device?: string;
  /** holding, input, coil or discrete. */
  table?: string;
  address: number;
  /** The device's answer, such as `exception 2 (illegal data address)`. */
  error: string;
  since: string;
}

/** A status as the API shows it. */
export interface ConnectorStatusView {
  state: ConnectorState;
  /** Since when it is in this state. */
  since: string;
  /** The last time data arrived or a connection was made; null: never. */
  lastSuccessAt: string | null;
  lastError: ConnectorError | null;
  /** Samples written per second, over the last RATE_WINDOW_MS. */
  readingsPerSecond: number;
  readingsTotal: number;
  messagesTotal: number;
  unparseableTotal: number;
  droppedTotal: number;
  /** States read as `unavailable` or `unknown` (Home Assistant): counted, not stored. Absent for kinds that have none. */
  unavailableTotal?: number;
  /** Values read with a status other than Good (OPC-UA), by status name: counted, not stored. Absent for kinds that have none. */
  badStatus?: Record<string, number>;
  /** Registers quarantined (Modbus). Absent for kinds that have none. */
  quarantined?: QuarantinedView[];
  /** Poll slots skipped because the poll before overran them (Modbus): never bunched up, counted. Absent for kinds that do not poll. */
  latePollsTotal?: number;
  /** The instance running it (host:pid); null when none does. */
  instance: string | null;
  /** Series and devices it tracks, and how many of them are stale or offline (./staleness.ts). */
  staleness: WatchCounts;
}

/** The window readingsPerSecond is averaged over. */
const RATE_WINDOW_MS = 10_000;
const RATE_BUCKETS = 10;

export class ConnectorMetrics {
  readonly state: client.Gauge;
  readonly readings: client.Counter;
  readonly messages: client.Counter;
  readonly unparseable: client.Counter;
  readonly dropped: client.Counter;
  readonly errors: client.Counter;
  readonly lastSuccess: client.Gauge;
  readonly unavailable: client.Counter;
  readonly badStatus: client.Counter;
  readonly quarantined: client.Gauge;
  readonly latePolls: client.Counter;
  readonly series: client.Gauge;
  readonly devices: client.Gauge;
  readonly deviceStale: client.Gauge;

  constructor(registry: client.Registry) {
    const r = [registry];
    this.state = new client.Gauge({ name: 'sentio_connector_state', help: 'Connector state: 1 for the current one (connecting, up, backoff, failed, stopped).', labelNames: ['connector', 'kind', 'state'], registers: r });
    this.readings = new client.Counter({ name: 'sentio_connector_readings_total', help: 'Samples a connector wrote (accepted by the pipeline).', labelNames: ['connector', 'kind'], registers: r });
    this.messages = new client.Counter({ name: 'sentio_connector_messages_total', help: 'Messages, events or polls a connector received.', labelNames: ['connector', 'kind'], registers: r });
    this.unparseable = new client.Counter({ name: 'sentio_connector_unparseable_total', help: 'Messages a connector could not decode (counted, acknowledged, not stored).', labelNames: ['connector', 'kind'], registers: r });
    this.dropped = new client.Counter({ name: 'sentio_connector_dropped_total', help: 'Samples a connector could not store, by reason.', labelNames: ['connector', 'kind', 'reason'], registers: r });
    this.errors = new client.Counter({ name: 'sentio_connector_errors_total', help: 'Connection and write errors of a connector.', labelNames: ['connector', 'kind'], registers: r });
    this.unavailable = new client.Counter({ name: 'sentio_connector_unavailable_total', help: 'States a connector read as unavailable or unknown (Home Assistant): counted, not stored.', labelNames: ['connector', 'kind'], registers: r });
    this.badStatus = new client.Counter({ name: 'sentio_connector_bad_status_total', help: 'Values a connector read with a status other than Good (OPC-UA), by status: counted, not stored.', labelNames: ['connector', 'kind', 'status'], registers: r });
    this.quarantined = new client.Gauge({ name: 'sentio_connector_quarantined', help: 'Registers a connector quarantined because the device refused them (Modbus exceptions): polled alone, rarely.', labelNames: ['connector', 'kind'], registers: r });
    this.latePolls = new client.Counter({ name: 'sentio_connector_late_polls_total', help: 'Poll slots a connector skipped because the poll before overran them (polls stay on their grid, never bunched up).', labelNames: ['connector', 'kind'], registers: r });
    this.lastSuccess = new client.Gauge({ name: 'sentio_connector_last_success_timestamp_seconds', help: 'When a connector last connected or received data (Unix seconds).', labelNames: ['connector', 'kind'], registers: r });
    this.series = new client.Gauge({ name: 'sentio_connector_series', help: "Series a connector tracks, by freshness (learning its interval, fresh, or stale: silent for several of its own intervals).", labelNames: ['connector', 'kind', 'freshness'], registers: r });
    this.devices = new client.Gauge({ name: 'sentio_connector_devices', help: 'Devices a connector tracks, by state (learning, fresh, stale, offline by their own availability reports).', labelNames: ['connector', 'kind', 'state'], registers: r });
    this.deviceStale = new client.Gauge({ name: 'sentio_connector_device_stale', help: 'A device silent for several of its own reporting intervals: 1 while stale, absent otherwise.', labelNames: ['connector', 'kind', 'device'], registers: r });
  }

  /** Removes a connector's series (it was deleted or renamed). */
  forget(connector: string, kind: string): void {
    for (const m of [this.readings, this.messages, this.unparseable, this.errors, this.lastSuccess, this.unavailable, this.quarantined, this.latePolls]) m.remove({ connector, kind });
    for (const status of this.badStatuses.get(`${connector}\u0000${kind}`) ?? []) this.badStatus.remove({ connector, kind, status });
    this.badStatuses.delete(`${connector}\u0000${kind}`);
    for (const state of connectorStates) this.state.remove({ connector, kind, state });
    this.dropped.remove({ connector, kind });
    for (const reason of DROP_REASONS) this.dropped.remove({ connector, kind, reason });
    for (const freshness of FRESHNESS) this.series.remove({ connector, kind, freshness });
    for (const state of DEVICE_STATES) this.devices.remove({ connector, kind, state });
    this.setStaleDevices(connector, kind, new Set());
  }

  /** Status names counted by badStatus for each connector (`connector\u0000kind`): removed with it. */
  readonly badStatuses = new Map<string, Set<string>>();

  /** Stale devices of each connector, as exported: `connector\u0000kind` → device names. */
  private readonly staleDevices = new Map<string, Set<string>>();

  /** The devices of a connector that are stale now: gauges set for them, removed for the others. */
  setStaleDevices(connector: string, kind: string, stale: ReadonlySet<string>): void {
    const k = `${connector}\u0000${kind}`;
    for (const device of this.staleDevices.get(k) ?? []) if (!stale.has(device)) this.deviceStale.remove({ connector, kind, device });
    for (const device of stale) this.deviceStale.set({ connector, kind, device }, 1);
    if (stale.size === 0) this.staleDevices.delete(k);
    else this.staleDevices.set(k, new Set(stale));
  }
}

/** Why samples of a connector were not stored. */
export type DropReason = 'rejected' | 'limit' | 'overflow' | 'stopped';
const DROP_REASONS: readonly DropReason[] = ['rejected', 'limit', 'overflow', 'stopped'];
const FRESHNESS: readonly Freshness[] = ['learning', 'fresh', 'stale'];
const DEVICE_STATES = [...FRESHNESS, 'offline'] as const;
/** How long counts of the watch are reused. */
const COUNTS_TTL_MS = 1000;

export class ConnectorStatus {
  private current: ConnectorState = 'stopped';
  private sinceMs = Date.now();
  private lastSuccessMs: number | undefined;
  private error: ConnectorError | null = null;
  private readingsTotal = 0;
  private messagesTotal = 0;
  private unparseableTotal = 0;
  private droppedTotal = 0;
  private unavailableTotal: number | undefined;
  private badStatusTotals: Record<string, number> | undefined;
  private quarantinedList: QuarantinedView[] | undefined;
  private latePollsTotal: number | undefined;
  /** Samples per bucket of RATE_WINDOW_MS / RATE_BUCKETS, ring. */
  private readonly buckets = new Float64Array(RATE_BUCKETS);
  private bucketAt = 0;
  private bucketStartMs = 0;
  private readonly labels: { connector: string; kind: string };
  private readonly children: {
    messages: client.Counter.Internal;
    readings: client.Counter.Internal;
    unparseable: client.Counter.Internal;
    unavailable: client.Counter.Internal;
    errors: client.Counter.Internal;
    lastSuccess: client.Gauge.Internal<string>;
  };
  /** The learned rhythm of its series and devices. */
  readonly watch: Watch;
  private counted: { at: number; counts: WatchCounts } | undefined;

  constructor(
    connector: string,
    kind: string,
    private readonly metrics: ConnectorMetrics,
    private readonly instance: string,
    private readonly now: () => number = Date.now,
  ) {
    this.labels = { connector, kind };
    // Per message counters: their labelled children, so an increment does not hash the labels each time.
    const m = metrics;
    this.children = {
      messages: m.messages.labels(this.labels),
      readings: m.readings.labels(this.labels),
      unparseable: m.unparseable.labels(this.labels),
      unavailable: m.unavailable.labels(this.labels),
      errors: m.errors.labels(this.labels),
      lastSuccess: m.lastSuccess.labels(this.labels),
    };
    this.watch = new Watch({ now });
    this.sinceMs = now();
    this.bucketStartMs = this.sinceMs;
    this.setGauge();
  }

  get state(): ConnectorState {
    return this.current;
  }

  set(state: ConnectorState): void {
    if (state === this.current) return;
    this.current = state;
    this.sinceMs = this.now();
    this.setGauge();
  }

  /** Connected, or data arrived. */
  success(): void {
    this.lastSuccessMs = this.now();
    this.children.lastSuccess.set(this.lastSuccessMs / 1000);
  }

  /** A failure worth telling the operator; `reason` must hold no secret. */
  failure(reason: string): void {
    this.error = { at: new Date(this.now()).toISOString(), reason };
    this.children.errors.inc();
  }

  messages(n: number): void {
    this.messagesTotal += n;
    this.children.messages.inc(n);
  }

  unparseable(n: number, reason: string): void {
    this.unparseableTotal += n;
    this.children.unparseable.inc(n);
    this.error = { at: new Date(this.now()).toISOString(), reason };
  }

  readings(n: number): void {
    if (n === 0) return;
    this.readingsTotal += n;
    this.children.readings.inc(n);
    this.advance();
    this.buckets[this.bucketAt]! += n;
  }

  /** States read as unavailable or unknown (not stored). */
  unavailable(n: number): void {
    this.unavailableTotal = (this.unavailableTotal ?? 0) + n;
    this.children.unavailable.inc(n);
  }

  /** Values read with status `status` (a name such as BadNodeIdUnknown): counted, not stored. */
  badStatus(status: string, n = 1): void {
    const totals = (this.badStatusTotals ??= {});
    if (totals[status] === undefined) {
      const k = `${this.labels.connector}\u0000${this.labels.kind}`;
      const names = this.metrics.badStatuses.get(k) ?? new Set<string>();
      names.add(status);
      this.metrics.badStatuses.set(k, names);
    }
    totals[status] = (totals[status] ?? 0) + n;
    this.metrics.badStatus.inc({ ...this.labels, status }, n);
  }

  /** The registers quarantined now (the whole list). */
  setQuarantined(list: QuarantinedView[]): void {
    this.quarantinedList = list;
    this.metrics.quarantined.set(this.labels, list.length);
  }

  /** Poll slots skipped (a poll overran them). */
  latePolls(n: number): void {
    this.latePollsTotal = (this.latePollsTotal ?? 0) + n;
    this.metrics.latePolls.inc(this.labels, n);
  }

  dropped(n: number, reason: DropReason): void {
    if (n === 0) return;
    this.droppedTotal += n;
    this.metrics.dropped.inc({ ...this.labels, reason }, n);
  }

  view(): ConnectorStatusView {
    this.advance();
    let sum = 0;
    for (const b of this.buckets) sum += b;
    return {
      state: this.current,
      since: new Date(this.sinceMs).toISOString(),
      lastSuccessAt: this.lastSuccessMs === undefined ? null : new Date(this.lastSuccessMs).toISOString(),
      lastError: this.error,
      readingsPerSecond: Math.round((sum / (RATE_WINDOW_MS / 1000)) * 10) / 10,
      readingsTotal: this.readingsTotal,
      messagesTotal: this.messagesTotal,
      unparseableTotal: this.unparseableTotal,
      droppedTotal: this.droppedTotal,
      ...(this.unavailableTotal !== undefined ? { unavailableTotal: this.unavailableTotal } : {}),
      ...(this.badStatusTotals !== undefined ? { badStatus: { ...this.badStatusTotals } } : {}),
      ...(this.quarantinedList !== undefined ? { quarantined: this.quarantinedList } : {}),
      ...(this.latePollsTotal !== undefined ? { latePollsTotal: this.latePollsTotal } : {}),
      instance: this.instance,
      staleness: this.staleness(),
    };
  }

  /** The watch's counts (reused for a second), and its gauges set. */
  staleness(): WatchCounts {
    const now = this.now();
    if (this.counted !== undefined && now - this.counted.at < COUNTS_TTL_MS) return this.counted.counts;
    const counts = this.watch.counts();
    this.counted = { at: now, counts };
    this.setWatchGauges(counts);
    return counts;
  }

  private setWatchGauges(c: WatchCounts): void {
    const m = this.metrics;
    for (const freshness of FRESHNESS) m.series.set({ ...this.labels, freshness }, c.series[freshness]);
    for (const state of DEVICE_STATES) m.devices.set({ ...this.labels, state }, c.devices[state]);
    m.setStaleDevices(this.labels.connector, this.labels.kind, new Set(c.staleDeviceNames));
  }

  /** Moves the ring to the bucket of now, clearing the buckets passed. */
  private advance(): void {
    const width = RATE_WINDOW_MS / RATE_BUCKETS;
    const now = this.now();
    let steps = Math.floor((now - this.bucketStartMs) / width);
    if (steps <= 0) return;
    this.bucketStartMs += steps * width;
    steps = Math.min(steps, RATE_BUCKETS);
    for (let i = 0; i < steps; i++) {
      this.bucketAt = (this.bucketAt + 1) % RATE_BUCKETS;
      this.buckets[this.bucketAt] = 0;
    }
  }

  private setGauge(): void {
    for (const state of connectorStates) this.metrics.state.set({ ...this.labels, state }, state === this.current ? 1 : 0);
  }
}
