// Modbus TCP connector: polls the registers of one or several devices
// (./config.ts) and writes them as samples `modbus_<name>` (./device.ts).
//
// - Devices with the same host and port share one connection
//   (./link.ts), their requests serialised; each device polls on its own
//   fixed grid (./schedule.ts), so a slow or dead device delays the others
//   on its connection by at most its timeout per poll, and the devices on
//   other connections not at all.
// - Health: `up` while at least one device answers its polls, `backoff`
//   while none does (each connection retries on its own backoff). A device
//   failing or coming back is logged once, not on every poll; every failed
//   poll sets lastError and counts an error. Each device is tracked by the
//   learned staleness (it polls at a fixed interval, so silence is judged
//   against that rhythm); registers the device refuses are listed in
//   status.quarantined with the exception.
// - Writes do not wait for storage: polls stay on their grid, samples
//   beyond the batcher's bound are dropped (counted as overflow).

import type { Principal } from '../../auth/index.js';
import { ReadingsBatcher } from '../batcher.js';
import type { QuarantinedView } from '../status.js';
import type { Connector, ConnectorContext } from '../types.js';
import { DEFAULTS, type ModbusConfig, resolveDevices } from './config.js';
import { ModbusDevice, type PollResult } from './device.js';
import { ModbusLink } from './link.js';
import { PollScheduler } from './schedule.js';

export const PROTOCOL = 'modbus';
const STOP_GRACE_MS = 5000;
/** Bound on making a connection, whatever the devices' timeouts. */
const MIN_CONNECT_TIMEOUT_MS = 3000;

interface Polled {
  device: ModbusDevice;
  scheduler: PollScheduler;
  /** The last poll's outcome: undefined before the first. */
  ok: boolean | undefined;
}

export class ModbusConnector implements Connector {
  private readonly batcher: ReadingsBatcher;
  private readonly links = new Map<string, ModbusLink>();
  private readonly devices: Polled[] = [];
  private stopped = false;

  constructor(
    cfg: ModbusConfig,
    private readonly ctx: ConnectorContext,
  ) {
    const principal: Principal = { key: `connector:${ctx.name}`, labels: { connector: ctx.name } };
    this.batcher = new ReadingsBatcher({ port: ctx.port, protocol: PROTOCOL, principal, status: ctx.status, watch: ctx.status.watch });
    const plan = { maxGapRegisters: cfg.maxGapRegisters ?? DEFAULTS.maxGapRegisters, maxGapBits: cfg.maxGapBits ?? DEFAULTS.maxGapBits };
    for (const d of resolveDevices(cfg)) {
      const name = `${d.host}:${d.port}`;
      let link = this.links.get(name);
      if (link === undefined) {
        link = new ModbusLink({ host: d.host, port: d.port, connectTimeoutMs: Math.max(MIN_CONNECT_TIMEOUT_MS, d.timeoutMs), onState: (up, why) => this.linkState(name, up, why) });
        this.links.set(name, link);
      }
      const device = new ModbusDevice(d, link, plan);
      const p: Polled = {
        device,
        ok: undefined,
        scheduler: new PollScheduler({
          intervalMs: d.intervalMs,
          poll: () => this.poll(p),
          onLate: (n) => ctx.status.latePolls(n),
          onError: (err) => ctx.log.error(`connector ${ctx.name}: device ${d.name}: a poll failed unexpectedly: ${(err as Error).stack ?? String(err)}`),
        }),
      };
      this.devices.push(p);
    }
    ctx.status.setQuarantined([]);
  }

  async start(): Promise<void> {
    this.ctx.status.set('connecting');
    for (const p of this.devices) p.scheduler.start();
  }

  private async poll(p: Polled): Promise<void> {
    if (this.stopped) return;
    const held = p.device.quarantine.size;
    const r = await p.device.poll();
    if (this.stopped) return;
    const { status } = this.ctx;
    status.messages(1);
    this.write(p.device, r);
    if (r.refused.length > 0) this.refused(p.device, r);
    if (r.refused.length > 0 || p.device.quarantine.size !== held) this.publishQuarantined();
    const ok = r.error === undefined;
    if (ok) status.success();
    else status.failure(`device ${p.device.name}: ${r.error!.message}`);
    if (ok !== p.ok) {
      if (ok && p.ok === false) this.ctx.log.info(`connector ${this.ctx.name}: device ${p.device.name} answers again`);
      if (!ok) this.ctx.log.warn(`connector ${this.ctx.name}: device ${p.device.name}: ${r.error!.message}`);
      p.ok = ok;
      this.setState();
    }
  }

  private write(d: ModbusDevice, r: PollResult): void {
    const { status } = this.ctx;
    if (r.values === 0) return;
    if (this.batcher.full) {
      status.dropped(r.values, 'overflow');
      return;
    }
    let last = 0;
    const now = Date.now();
    const nonFinite = d.samples(r, (series, ts, value) => {
      this.batcher.sampleSeries(series, ts, value, now);
      if (ts > last) last = ts;
    });
    if (nonFinite > 0) status.dropped(nonFinite, 'rejected');
    if (nonFinite === r.values) return;
    status.watch.device(d.name, d.identity, last);
    // Nothing to acknowledge: a batch not stored before a stop is counted by the batcher.
    this.batcher.end().catch(() => undefined);
  }

  private refused(d: ModbusDevice, r: PollResult): void {
    const list = r.refused.map((q) => `${q.name} (${q.table} ${q.address}): ${q.error}`).join('; ');
    const message = `device ${d.name}: ${r.refused.length === 1 ? 'register' : 'registers'} refused and quarantined (the others are read; retried alone every 10 minutes at most): ${list}`;
    this.ctx.status.failure(message);
    this.ctx.log.warn(`connector ${this.ctx.name}: ${message}`);
  }

  private publishQuarantined(): void {
    const list: QuarantinedView[] = [];
    for (const { device } of this.devices) {
      for (const q of device.quarantined()) list.push({ name: q.name, device: device.name, table: q.table, address: q.address, error: q.error, since: new Date(q.sinceMs).toISOString() });
    }
    this.ctx.status.setQuarantined(list);
  }

  private setState(): void {
    const { status } = this.ctx;
    if (this.stopped) return;
    if (this.devices.some((p) => p.ok === true)) status.set('up');
    else if (this.devices.every((p) => p.ok === false)) status.set('backoff');
  }

  private linkState(name: string, up: boolean, why?: string): void {
    if (this.stopped) return;
    if (up) this.ctx.log.info(`connector ${this.ctx.name}: connected to ${name}`);
    else this.ctx.log.warn(`connector ${this.ctx.name}: ${name}: ${why ?? 'connection lost'}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.allSettled(this.devices.map((p) => p.scheduler.stop()));
    await Promise.allSettled([...[...this.links.values()].map((l) => l.close()), this.batcher.close(STOP_GRACE_MS)]);
    this.ctx.status.set('stopped');
  }
}
