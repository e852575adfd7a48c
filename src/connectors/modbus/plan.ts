// The read plan of one device: its registers grouped by table, sorted by
// address and merged into as few read requests as the protocol allows.
//
// - A request reads at most 125 registers (holding, input: FC 3, 4) or 2000
//   bits (coil, discrete: FC 1, 2).
// - Two ranges join in one request when at most `maxGap` unused registers
//   (bits) lie between them: reading a few more is cheaper than one more
//   round trip. A device that refuses the gap (illegal data address) costs
//   a bisection (./bisect.ts), which reads around it.
// - A register is never split across requests: a 32-bit value at the edge
//   of a full request starts the next one.
// - A gap is not bridged over a register to avoid (one in quarantine).
// - Overlapping registers (several bit fields of one status register, a
//   uint32 and its low half) share the words they cover.

import { DEFAULTS, type Table } from './config.js';

/** What the planner needs of a register. */
export interface Span {
  table: Table;
  address: number;
  /** Registers (holding, input) or bits (coil, discrete). */
  width: number;
}

/** One read request and the registers it serves, by address. */
export interface Block<R extends Span = Span> {
  table: Table;
  address: number;
  count: number;
  registers: R[];
}

export interface PlanOptions {
  /** Default 10: unused registers read to join two ranges of holding or input registers. */
  maxGapRegisters?: number;
  /** Default 64: the same for coils and discrete inputs. */
  maxGapBits?: number;
  /** Protocol limits, lowered for devices that take less (default 125 registers, 2000 bits). */
  maxRegisters?: number;
  maxBits?: number;
  /** Ranges no gap may bridge: the registers held in quarantine (a request covering one would be refused). */
  avoid?: readonly Span[];
}

export const MAX_REGISTERS = 125;
export const MAX_BITS = 2000;

const TABLE_ORDER: readonly Table[] = ['holding', 'input', 'coil', 'discrete'];

export const isBitTable = (t: Table): boolean => t === 'coil' || t === 'discrete';

/** The span `registers` cover, as one block (they must share a table). */
export function blockOf<R extends Span>(registers: readonly R[]): Block<R> {
  const first = registers[0];
  if (first === undefined) throw new RangeError('a block of no registers');
  let start = first.address;
  let end = first.address + first.width;
  for (const r of registers) {
    if (r.table !== first.table) throw new RangeError(`a block mixes tables ${first.table} and ${r.table}`);
    start = Math.min(start, r.address);
    end = Math.max(end, r.address + r.width);
  }
  return { table: first.table, address: start, count: end - start, registers: [...registers] };
}

/**
 * The requests that read `registers`, by table then address. Throws
 * RangeError for a register wider than one request (a validated config has
 * none).
 */
export function plan<R extends Span>(registers: readonly R[], o: PlanOptions = {}): Array<Block<R>> {
  const blocks: Array<Block<R>> = [];
  for (const table of TABLE_ORDER) {
    const bits = isBitTable(table);
    const limit = bits ? (o.maxBits ?? MAX_BITS) : (o.maxRegisters ?? MAX_REGISTERS);
    const maxGap = bits ? (o.maxGapBits ?? DEFAULTS.maxGapBits) : (o.maxGapRegisters ?? DEFAULTS.maxGapRegisters);
    const rs = registers.filter((r) => r.table === table).sort((a, b) => a.address - b.address || b.width - a.width);
    const avoids = (o.avoid ?? []).filter((a) => a.table === table);
    let open: Block<R> | undefined;
    for (const r of rs) {
      if (r.width > limit) throw new RangeError(`${table} ${r.address}: ${r.width} wide, more than one request reads (${limit})`);
      const end = r.address + r.width;
      if (open !== undefined) {
        const openEnd = open.address + open.count;
        const newEnd = Math.max(openEnd, end);
        if (r.address - openEnd <= maxGap && newEnd - open.address <= limit && !avoids.some((a) => a.address < r.address && a.address + a.width > openEnd)) {
          open.count = newEnd - open.address;
          open.registers.push(r);
          continue;
        }
        blocks.push(open);
      }
      open = { table, address: r.address, count: r.width, registers: [r] };
    }
    if (open !== undefined) blocks.push(open);
  }
  return blocks;
}
