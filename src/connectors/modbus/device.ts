// One Modbus device (a unit id behind a connection) and its polls: on its
// own fixed grid (./schedule.ts), each poll reads the device's registers in
// as few requests as the plan allows (./plan.ts), bisecting a refused block
// down to the register the device refuses (./bisect.ts), which is then
// held out of the plan and retried rarely (./quarantine.ts).
//
// - Samples: `modbus_<name>` with the labels device, unit_id and unit (when
//   the register has one), plus the text of the device's string registers
//   as labels (a serial number, a firmware version), stamped with the time
//   the reply holding them arrived.
// - A poll that fails (a timeout, the connection down) writes what it read
//   before the failure and stops there: one timeout per poll, so a device
//   that does not answer costs its connection at most timeoutMs per poll.
// - A non-finite float (NaN is how many meters say "no value") is not
//   written; it is counted as dropped (rejected).

import { Series } from '../batcher.js';
import { type BlockRead, type Quarantined, readBlock } from './bisect.js';
import type { ResolvedDevice, ResolvedRegister } from './config.js';
import type { ModbusLink } from './link.js';
import type { PlanOptions } from './plan.js';
import { type PlanMemo, type QuarantineEntry, QuarantineTracker, planPoll } from './quarantine.js';

/** A poll's samples as columns (no object per sample): sample i is values[i] of series[i] at ts[i]. */
export interface PollSamples {
  series: Series[];
  ts: number[];
  values: number[];
}

export interface PollResult {
  samples: PollSamples;
  /** Registers refused in this poll (new, or refused again on a retry). */
  refused: Quarantined[];
  /** Non-finite values not written. */
  nonFinite: number;
  requests: number;
  /** Why the poll ended early; undefined when it read everything planned. */
  error: Error | undefined;
}

export class ModbusDevice {
  readonly quarantine: QuarantineTracker;
  /** The last text of each string register (kept when a poll does not read it). */
  private strings = new Map<string, string>();
  /** The series of each numeric register for the current strings; rebuilt when a string changes. */
  private series = new Map<string, Series>();
  private readonly memo: PlanMemo<ResolvedRegister> = { version: -1, blocks: undefined };

  constructor(
    readonly device: ResolvedDevice,
    private readonly link: ModbusLink,
    private readonly plan: PlanOptions,
    quarantine = new QuarantineTracker(),
  ) {
    this.quarantine = quarantine;
  }

  get name(): string {
    return this.device.name;
  }

  /** The device's own labels (its identity in the watch). */
  get identity(): Record<string, string> {
    return { device: this.device.name, unit_id: String(this.device.unitId) };
  }

  /** One poll: every request of its plan, in order. Never rejects: a failure is in `error`. */
  async poll(): Promise<PollResult> {
    const d = this.device;
    const out: PollResult = { samples: { series: [], ts: [], values: [] }, refused: [], nonFinite: 0, requests: 0, error: undefined };
    const read = (table: ResolvedRegister['table'], address: number, count: number) => this.link.read(d.unitId, table, address, count, d.timeoutMs);
    const reads: Array<BlockRead<ResolvedRegister>> = [];
    for (const block of planPoll(d.registers, this.quarantine, this.plan, this.memo)) {
      try {
        const r = await readBlock(block, read);
        reads.push(r);
        out.requests += r.requests;
      } catch (err) {
        out.error = err as Error;
        break;
      }
    }
    for (const r of reads) {
      this.quarantine.record(r);
      out.refused.push(...r.quarantined);
    }
    this.emit(reads, out);
    return out;
  }

  /** What is held out of the plan now. */
  quarantined(): QuarantineEntry[] {
    return this.quarantine.list();
  }

  private emit(reads: ReadonlyArray<BlockRead<ResolvedRegister>>, out: PollResult): void {
    let changed = false;
    for (const r of reads) {
      for (const v of r.values) {
        if (v.register.type !== 'string' || this.strings.get(v.register.name) === v.value) continue;
        this.strings.set(v.register.name, v.value as string);
        changed = true;
      }
    }
    if (changed) this.series.clear();
    const { series, ts, values } = out.samples;
    for (const r of reads) {
      for (const v of r.values) {
        if (v.register.type === 'string') continue;
        const value = v.value as number;
        if (!Number.isFinite(value)) {
          out.nonFinite++;
          continue;
        }
        series.push(this.seriesOf(v.register));
        ts.push(v.at);
        values.push(value);
      }
    }
  }

  private seriesOf(r: ResolvedRegister): Series {
    let l = this.series.get(r.name);
    if (l === undefined) {
      const labels: Record<string, string> = { __name__: `modbus_${r.name}`, ...Object.fromEntries(this.strings), ...this.identity };
      if (r.unit !== undefined) labels.unit = r.unit;
      l = new Series(`${this.device.name}\u0000${r.name}\u0000${[...this.strings.values()].join('\u0000')}`, labels);
      this.series.set(r.name, l);
    }
    return l;
  }
}
