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
import { type BlockRead, type Quarantined, decodeIn, readBlock } from './bisect.js';
import type { ResolvedDevice, ResolvedRegister } from './config.js';
import type { ModbusLink } from './link.js';
import type { PlanOptions } from './plan.js';
import { type PlanMemo, type QuarantineEntry, QuarantineTracker, planPoll } from './quarantine.js';

export interface PollResult {
  /** What the poll read, block by block; its samples are decoded by ModbusDevice.samples(). */
  reads: Array<BlockRead<ResolvedRegister>>;
  /** Numeric values read (samples, non-finite ones among them). */
  values: number;
  /** Registers refused in this poll (new, or refused again on a retry). */
  refused: Quarantined[];
  requests: number;
  /** Why the poll ended early; undefined when it read everything planned. */
  error: Error | undefined;
}

/** Takes one sample: its series, the time its reply arrived (Unix ms) and its value. */
export type SampleSink = (series: Series, timestampMs: number, value: number) => void;

export class ModbusDevice {
  readonly quarantine: QuarantineTracker;
  /** The last text of each string register (kept when a poll does not read it). */
  private strings = new Map<string, string>();
  /** The series of each numeric register for the current strings; rebuilt when a string changes. */
  private series = new Map<ResolvedRegister, Series>();
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

  /**
   * One poll: every request of its plan, in order. Never rejects: a failure
   * is in `error`. Takes in the text of the string registers read (labels
   * of the samples); the samples themselves are decoded by samples().
   */
  async poll(): Promise<PollResult> {
    const d = this.device;
    const out: PollResult = { reads: [], values: 0, refused: [], requests: 0, error: undefined };
    const read = (table: ResolvedRegister['table'], address: number, count: number) => this.link.read(d.unitId, table, address, count, d.timeoutMs);
    for (const block of planPoll(d.registers, this.quarantine, this.plan, this.memo)) {
      try {
        const r = await readBlock(block, read);
        out.reads.push(r);
        out.requests += r.requests;
      } catch (err) {
        out.error = err as Error;
        break;
      }
    }
    let changed = false;
    for (const r of out.reads) {
      this.quarantine.record(r);
      out.refused.push(...r.quarantined);
      for (const { block, data } of r.chunks) {
        for (const reg of block.registers) {
          if (reg.type !== 'string') {
            out.values++;
            continue;
          }
          const text = decodeIn(reg, block.address, data) as string;
          if (this.strings.get(reg.name) === text) continue;
          this.strings.set(reg.name, text);
          changed = true;
        }
      }
    }
    if (changed) this.series.clear();
    return out;
  }

  /**
   * Decodes the numeric values of a poll into `sink`, in the order read,
   * each with the time its reply arrived. Returns how many were non-finite
   * (not written).
   */
  samples(r: PollResult, sink: SampleSink): number {
    let nonFinite = 0;
    for (const read of r.reads) {
      for (const { block, data, at } of read.chunks) {
        for (const reg of block.registers) {
          if (reg.type === 'string') continue;
          const value = decodeIn(reg, block.address, data) as number;
          if (Number.isFinite(value)) sink(this.seriesOf(reg), at, value);
          else nonFinite++;
        }
      }
    }
    return nonFinite;
  }

  /** What is held out of the plan now. */
  quarantined(): QuarantineEntry[] {
    return this.quarantine.list();
  }

  private seriesOf(r: ResolvedRegister): Series {
    let l = this.series.get(r);
    if (l === undefined) {
      const labels: Record<string, string> = { __name__: `modbus_${r.name}`, ...Object.fromEntries(this.strings), ...this.identity };
      if (r.unit !== undefined) labels.unit = r.unit;
      l = new Series(`${this.device.name}\u0000${r.name}\u0000${[...this.strings.values()].join('\u0000')}`, labels);
      this.series.set(r, l);
    }
    return l;
  }
}
