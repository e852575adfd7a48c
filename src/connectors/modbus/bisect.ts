// Reading one planned block, and finding the registers a device refuses.
//
// A device answers a read of a range it does not (fully) implement with an
// exception (2: illegal data address, 3: illegal data value, 4: server
// device failure on some), and one bad register spoils every request that
// covers it. So a refused block is split in two halves of its registers
// (never inside a register), each half read over the span of its own
// registers (the gaps at its edges dropped), recursively, down to single
// registers. A single register still refused is quarantined: returned as
// `{ name, address, error }`, not as a value; everything else is read. One
// bad register among n costs about 2·log2(n) requests, not n.
//
// - Exception 1 (illegal function: the device has no such table) quarantines
//   the whole block at once: no half would do better.
// - Anything else (a timeout, a closed connection, exceptions 5, 6, 10, 11:
//   busy, gateway path or target not answering) is no property of the
//   registers: it is thrown, and fails the poll.
// - A response shorter than asked is thrown too (a broken peer).
// - The sub-blocks that read are returned with their data (`chunks`),
//   decoded by the caller straight into its batch (no object per value);
//   the connector may plan with them next time instead of bisecting again
//   each poll.

import type { ResolvedRegister, Table } from './config.js';
import { decodeBit, decodeNumber, decodeString } from './decode.js';
import { type Block, blockOf, isBitTable } from './plan.js';

/** Reads `count` registers (words) or bits (0/1 or booleans) at `address`; rejects as the client does. */
export type ReadFn = (table: Table, address: number, count: number) => Promise<ArrayLike<number | boolean>>;

export interface ModbusException {
  code: number;
  /** Such as "illegal data address (exception 2)". */
  message: string;
}

const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export function exceptionMessage(code: number): string {
  return `${EXCEPTION_NAMES[code] ?? 'unknown exception'} (exception ${code})`;
}

/**
 * The Modbus exception an error carries, or undefined (a timeout, a
 * connection error). modbus-serial rejects with an Error whose `modbusCode`
 * is the exception code.
 */
export function modbusException(err: unknown): ModbusException | undefined {
  const code = err !== null && typeof err === 'object' ? (err as { modbusCode?: unknown }).modbusCode : undefined;
  return typeof code === 'number' && Number.isInteger(code) && code >= 1 && code <= 255 ? { code, message: exceptionMessage(code) } : undefined;
}

/** What an exception means for the registers a request covered. */
export type ExceptionPolicy = (code: number) => 'bisect' | 'quarantine' | 'fail';

export const defaultPolicy: ExceptionPolicy = (code) => (code === 2 || code === 3 || code === 4 ? 'bisect' : code === 1 ? 'quarantine' : 'fail');

/** What reading and decoding need of a register. */
export type Readable = Pick<ResolvedRegister, 'name' | 'table' | 'address' | 'width' | 'type' | 'bit' | 'wordOrder' | 'byteOrder' | 'scale' | 'offset'>;

export interface Quarantined {
  name: string;
  table: Table;
  address: number;
  code: number;
  error: string;
}

export interface Reading<R> {
  register: R;
  /** A number; the text of a string register. */
  value: number | string;
  /** When the reply that held it arrived (Unix ms): the sample's time. */
  at: number;
}

/** A (sub-)block that read: its registers' values are decodeIn(register, block.address, data). */
export interface Chunk<R extends Readable> {
  block: Block<R>;
  data: ArrayLike<number | boolean>;
  /** When the reply arrived (Unix ms): its samples' time. */
  at: number;
}

export interface BlockRead<R extends Readable> {
  /** The sub-blocks that read (the block itself when nothing was refused), in address order. */
  chunks: Array<Chunk<R>>;
  quarantined: Quarantined[];
  requests: number;
}

/** Every value of a read, decoded (for tests and tools; the connector decodes chunks straight into its batch). */
export function readingsOf<R extends Readable>(r: BlockRead<R>): Array<Reading<R>> {
  return r.chunks.flatMap(({ block, data, at }) => block.registers.map((register) => ({ register, value: decodeIn(register, block.address, data), at })));
}

export interface BisectOptions {
  /** Default modbusException (modbus-serial's modbusCode). */
  classify?: (err: unknown) => ModbusException | undefined;
  policy?: ExceptionPolicy;
  /** Default Date.now: stamps each reply. */
  now?: () => number;
}

export class ShortResponseError extends Error {}

/** The value of `r` in data read from `block` (at block.address). */
export function decodeIn<R extends Readable>(r: R, blockAddress: number, data: ArrayLike<number | boolean>): number | string {
  const at = r.address - blockAddress;
  if (isBitTable(r.table)) return decodeBit(data, at);
  const words = data as ArrayLike<number>;
  return r.type === 'string' ? decodeString(r, words, at) : decodeNumber(r, words, at);
}

/**
 * Reads `block` through `read`, bisecting on exceptions the policy says to.
 * Rejects with what `read` rejected with when the poll should fail.
 */
export async function readBlock<R extends Readable>(block: Block<R>, read: ReadFn, o: BisectOptions = {}): Promise<BlockRead<R>> {
  const classify = o.classify ?? modbusException;
  const policy = o.policy ?? defaultPolicy;
  const now = o.now ?? Date.now;
  const out: BlockRead<R> = { chunks: [], quarantined: [], requests: 0 };

  const quarantine = (regs: readonly R[], e: ModbusException): void => {
    for (const r of regs) out.quarantined.push({ name: r.name, table: r.table, address: r.address, code: e.code, error: e.message });
  };

  // `refused`: the span its parent was refused on; the same span is not asked again.
  async function visit(b: Block<R>, refused?: { address: number; count: number; e: ModbusException }): Promise<void> {
    let e: ModbusException;
    if (refused !== undefined && refused.address === b.address && refused.count === b.count) e = refused.e;
    else {
      try {
        out.requests++;
        const data = await read(b.table, b.address, b.count);
        const at = now();
        if (data.length < b.count) throw new ShortResponseError(`${b.table} ${b.address}+${b.count}: ${data.length} values in the response`);
        out.chunks.push({ block: b, data, at });
        return;
      } catch (err) {
        const x = err instanceof ShortResponseError ? undefined : classify(err);
        if (x === undefined) throw err;
        const p = policy(x.code);
        if (p === 'fail') throw err;
        if (p === 'quarantine') return quarantine(b.registers, x);
        e = x;
      }
    }
    if (b.registers.length === 1 || b.registers.every((r) => r.address === b.address && r.width === b.count)) return quarantine(b.registers, e);
    const half = Math.ceil(b.registers.length / 2);
    const to = { address: b.address, count: b.count, e };
    await visit(blockOf(b.registers.slice(0, half)), to);
    await visit(blockOf(b.registers.slice(half)), to);
  }

  await visit({ ...block, registers: [...block.registers].sort((a, b) => a.address - b.address) });
  return out;
}
