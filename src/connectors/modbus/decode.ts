// Values of Modbus registers: a register's 16-bit words (as read, in address
// order) to a number, or to text for a string register.
//
// - wordOrder: which register holds the most significant word. big: the
//   first (ABCD), little: the last (CDAB).
// - byteOrder: big: each register's high byte first, as the protocol sends
//   it; little: the two bytes of each register swapped (BADC; with
//   wordOrder little, DCBA).
// - Integers are two's complement; floats IEEE 754. int64 and uint64 are
//   read exactly (BigInt) and then made a Number: beyond 2^53 they lose
//   precision (the nearest double), which a sample value has anyway.
// - bool: a coil or discrete input is its bit; on a register, `bit` (0 the
//   least significant of the register after byteOrder) or non-zero.
// - Numbers are raw × scale + offset (not bool). A float register may hold
//   NaN or ±Infinity: returned as read, the caller decides.
// - string: the registers' bytes in order (byteOrder applied), trailing NULs
//   and spaces trimmed, characters outside printable ASCII replaced by `?`.

import type { RegisterType } from './config.js';

export type Order = 'big' | 'little';

export interface Layout {
  type: RegisterType;
  /** Registers (or bits) the value takes. */
  width: number;
  bit?: number | undefined;
  wordOrder: Order;
  byteOrder: Order;
  scale: number;
  offset: number;
}

/** Numbers are at most 4 registers: their bytes go through this one view (a DataView per value costs more than the decoding). */
const scratch = new DataView(new ArrayBuffer(8));

/**
 * The words of a value as big-endian bytes: the most significant word
 * first, each high byte first. Up to 4 words: in `scratch`, valid until
 * the next call.
 */
function bytesOf(words: ArrayLike<number>, start: number, width: number, wordOrder: Order, byteOrder: Order): DataView {
  const view = width <= 4 ? scratch : new DataView(new ArrayBuffer(width * 2));
  for (let i = 0; i < width; i++) {
    const w = (words[start + (wordOrder === 'big' ? i : width - 1 - i)] ?? 0) & 0xffff;
    view.setUint16(i * 2, byteOrder === 'big' ? w : ((w & 0xff) << 8) | (w >>> 8), false);
  }
  return view;
}

/** The raw (unscaled) value of a number type at `words[start..]`. */
export function rawValue(l: Layout, words: ArrayLike<number>, start = 0): number {
  if (words.length < start + l.width) throw new RangeError(`${l.type}: needs ${l.width} words at ${start}, have ${words.length - start}`);
  if (l.type === 'string') throw new TypeError('a string is text: use decodeString');
  const v = bytesOf(words, start, l.width, l.wordOrder, l.byteOrder);
  switch (l.type) {
    case 'bool': {
      const w = v.getUint16(0, false);
      return l.bit === undefined ? (w !== 0 ? 1 : 0) : (w >>> l.bit) & 1;
    }
    case 'int16':
      return v.getInt16(0, false);
    case 'uint16':
      return v.getUint16(0, false);
    case 'int32':
      return v.getInt32(0, false);
    case 'uint32':
      return v.getUint32(0, false);
    case 'float32':
      return v.getFloat32(0, false);
    case 'int64':
      return Number(v.getBigInt64(0, false));
    case 'uint64':
      return Number(v.getBigUint64(0, false));
    case 'float64':
      return v.getFloat64(0, false);
  }
}

/** The sample value: raw × scale + offset (bool: 0 or 1, unscaled). */
export function decodeNumber(l: Layout, words: ArrayLike<number>, start = 0): number {
  const raw = rawValue(l, words, start);
  return l.type === 'bool' ? raw : raw * l.scale + l.offset;
}

/** The text of a string register at `words[start..]`. */
export function decodeString(l: Pick<Layout, 'width' | 'byteOrder'>, words: ArrayLike<number>, start = 0): string {
  if (words.length < start + l.width) throw new RangeError(`string: needs ${l.width} words at ${start}, have ${words.length - start}`);
  const v = bytesOf(words, start, l.width, 'big', l.byteOrder);
  let end = l.width * 2;
  while (end > 0 && (v.getUint8(end - 1) === 0 || v.getUint8(end - 1) === 0x20)) end--;
  let s = '';
  for (let i = 0; i < end; i++) {
    const b = v.getUint8(i);
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '?';
  }
  return s;
}

/** A coil or discrete input (1 or 0) at `bits[start]`. */
export function decodeBit(bits: ArrayLike<number | boolean>, start = 0): number {
  if (bits.length <= start) throw new RangeError(`bit: needs 1 at ${start}, have ${bits.length - start}`);
  return bits[start] ? 1 : 0;
}
