import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RegisterType } from './config.js';
import { type Layout, type Order, decodeBit, decodeNumber, decodeString, rawValue } from './decode.js';

const layout = (type: RegisterType, width: number, wordOrder: Order = 'big', byteOrder: Order = 'big', extra: Partial<Layout> = {}): Layout => ({ type, width, wordOrder, byteOrder, scale: 1, offset: 0, ...extra });

const swap = (w: number): number => ((w & 0xff) << 8) | (w >>> 8);
/** The words a device sends for `abcd` (big-endian words, most significant first) in each of the four orders. */
function orders(abcd: number[]): Array<[string, Order, Order, number[]]> {
  const rev = [...abcd].reverse();
  return [
    ['ABCD', 'big', 'big', abcd],
    ['CDAB', 'little', 'big', rev],
    ['BADC', 'big', 'little', abcd.map(swap)],
    ['DCBA', 'little', 'little', rev.map(swap)],
  ];
}

describe('Modbus decode: numbers', () => {
  test('float32 123.456 (0x42F6E979) in ABCD, CDAB, BADC and DCBA', () => {
    const seen: Array<[string, number[]]> = [];
    for (const [name, wo, bo, words] of orders([0x42f6, 0xe979])) {
      seen.push([name, words]);
      assert.equal(rawValue(layout('float32', 2, wo, bo), words), Math.fround(123.456), name);
    }
    // The byte patterns themselves, as a device manual writes them.
    assert.deepEqual(seen, [
      ['ABCD', [0x42f6, 0xe979]],
      ['CDAB', [0xe979, 0x42f6]],
      ['BADC', [0xf642, 0x79e9]],
      ['DCBA', [0x79e9, 0xf642]],
    ]);
  });

  test('int32 and uint32 in every order', () => {
    for (const [name, wo, bo, words] of orders([0xffff, 0xfffe])) {
      assert.equal(rawValue(layout('int32', 2, wo, bo), words), -2, name);
      assert.equal(rawValue(layout('uint32', 2, wo, bo), words), 0xfffffffe, name);
    }
    for (const [name, wo, bo, words] of orders([0x1234, 0x5678])) {
      assert.equal(rawValue(layout('uint32', 2, wo, bo), words), 0x12345678, name);
      assert.equal(rawValue(layout('int32', 2, wo, bo), words), 0x12345678, name);
    }
    assert.equal(rawValue(layout('int32', 2), [0x8000, 0x0000]), -2147483648);
  });

  test('int16 and uint16, with byte order', () => {
    assert.equal(rawValue(layout('int16', 1), [0xfffe]), -2);
    assert.equal(rawValue(layout('uint16', 1), [0xfffe]), 65534);
    assert.equal(rawValue(layout('int16', 1), [0x8000]), -32768);
    assert.equal(rawValue(layout('uint16', 1, 'big', 'little'), [0x3412]), 0x1234);
    assert.equal(rawValue(layout('int16', 1, 'big', 'little'), [0xfeff]), -2);
  });

  test('int64 and uint64 in every order, exact below 2^53, nearest double beyond', () => {
    const minus2 = [0xffff, 0xffff, 0xffff, 0xfffe];
    const big = [0x0102, 0x0304, 0x0506, 0x0708]; // 0x0102030405060708 > 2^53
    const exact = [0x0000, 0x0012, 0x3456, 0x789a]; // 0x123456789a, well below 2^53
    for (const [name, wo, bo] of orders([0, 0, 0, 0])) {
      const enc = (abcd: number[]) => orders(abcd).find(([n]) => n === name)![3];
      assert.equal(rawValue(layout('int64', 4, wo, bo), enc(minus2)), -2, name);
      assert.equal(rawValue(layout('uint64', 4, wo, bo), enc(minus2)), Number(0xfffffffffffffffen), name);
      assert.equal(rawValue(layout('uint64', 4, wo, bo), enc(big)), Number(0x0102030405060708n), name);
      assert.equal(rawValue(layout('int64', 4, wo, bo), enc(exact)), 0x123456789a, name);
    }
    assert.equal(rawValue(layout('int64', 4), [0x8000, 0, 0, 0]), -(2 ** 63));
    // Beyond 2^53 adjacent integers collapse to one double: documented, not an error.
    assert.equal(rawValue(layout('uint64', 4), [0x0020, 0, 0, 1]), rawValue(layout('uint64', 4), [0x0020, 0, 0, 0]));
  });

  test('float64 in every order', () => {
    // 1.5 = 0x3FF8000000000000; -0.1 = 0xBFB999999999999A
    for (const [name, wo, bo, words] of orders([0x3ff8, 0, 0, 0])) assert.equal(rawValue(layout('float64', 4, wo, bo), words), 1.5, name);
    for (const [name, wo, bo, words] of orders([0xbfb9, 0x9999, 0x9999, 0x999a])) assert.equal(rawValue(layout('float64', 4, wo, bo), words), -0.1, name);
  });

  test('NaN and infinities are returned as read', () => {
    assert.ok(Number.isNaN(rawValue(layout('float32', 2), [0x7fc0, 0])));
    assert.equal(rawValue(layout('float32', 2), [0xff80, 0]), -Infinity);
  });

  test('scale and offset; a start offset into the words', () => {
    assert.equal(decodeNumber(layout('int16', 1, 'big', 'big', { scale: 0.1, offset: -40 }), [9, 9, 650], 2), 650 * 0.1 - 40);
    assert.equal(decodeNumber(layout('uint32', 2, 'little', 'big', { scale: 1000 }), [7, 0x0002, 0x0001], 1), 0x00010002 * 1000);
  });

  test('bool on a register: a bit (after byte order), or non-zero; never scaled', () => {
    assert.equal(rawValue(layout('bool', 1, 'big', 'big', { bit: 0 }), [0b1]), 1);
    assert.equal(rawValue(layout('bool', 1, 'big', 'big', { bit: 1 }), [0b1]), 0);
    assert.equal(rawValue(layout('bool', 1, 'big', 'big', { bit: 15 }), [0x8000]), 1);
    assert.equal(rawValue(layout('bool', 1, 'big', 'little', { bit: 15 }), [0x0080]), 1);
    assert.equal(rawValue(layout('bool', 1), [0x0400]), 1);
    assert.equal(rawValue(layout('bool', 1), [0]), 0);
    assert.equal(decodeNumber(layout('bool', 1, 'big', 'big', { scale: 10, offset: 5 }), [1]), 1);
  });

  test('coils and discrete inputs: booleans or 0/1', () => {
    assert.equal(decodeBit([false, true], 1), 1);
    assert.equal(decodeBit([1, 0], 1), 0);
    assert.throws(() => decodeBit([true], 1), RangeError);
  });

  test('too few words is a RangeError; a string is not a number', () => {
    assert.throws(() => rawValue(layout('float32', 2), [1]), RangeError);
    assert.throws(() => rawValue(layout('int64', 4), [1, 2, 3, 4], 1), RangeError);
    assert.throws(() => rawValue(layout('string', 2), [1, 2]), TypeError);
  });
});

describe('Modbus decode: strings', () => {
  const words = (s: string): number[] => {
    const out: number[] = [];
    for (let i = 0; i < s.length; i += 2) out.push((s.charCodeAt(i) << 8) | (s.charCodeAt(i + 1) || 0));
    return out;
  };

  test('high byte first; trailing NULs and spaces trimmed', () => {
    assert.equal(decodeString({ width: 4, byteOrder: 'big' }, words('SN-1234')), 'SN-1234');
    assert.equal(decodeString({ width: 4, byteOrder: 'big' }, words('AB  \0\0\0\0')), 'AB');
    assert.equal(decodeString({ width: 2, byteOrder: 'big' }, [0, 0]), '');
    assert.equal(decodeString({ width: 3, byteOrder: 'big' }, words(' x y  ')), ' x y', 'leading and inner spaces stay');
  });

  test('byte order little swaps each register', () => {
    assert.equal(decodeString({ width: 2, byteOrder: 'little' }, words('BADC')), 'ABCD');
  });

  test('non-printable characters are replaced', () => {
    assert.equal(decodeString({ width: 2, byteOrder: 'big' }, [0x4101, 0xe942]), 'A??B');
    assert.equal(decodeString({ width: 2, byteOrder: 'big' }, [0x4100, 0x4200]), 'A?B', 'a NUL inside is not trailing');
  });

  test('at a start offset', () => {
    assert.equal(decodeString({ width: 1, byteOrder: 'big' }, [0, 0x4f4b], 1), 'OK');
    assert.throws(() => decodeString({ width: 2, byteOrder: 'big' }, [0x4f4b], 0), RangeError);
  });
});
