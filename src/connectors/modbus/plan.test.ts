import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Table } from './config.js';
import { type Block, blockOf, plan } from './plan.js';

interface R {
  name: string;
  table: Table;
  address: number;
  width: number;
}
const r = (name: string, address: number, width = 1, table: Table = 'holding'): R => ({ name, table, address, width });
const shape = (bs: Array<Block<R>>) => bs.map((b) => [b.table, b.address, b.count, b.registers.map((x) => x.name)]);

describe('Modbus read plan', () => {
  test('adjacent registers are one request; tables apart, in table order', () => {
    const got = plan([r('c', 4, 2), r('a', 0), r('b', 1, 2), r('x', 0, 1, 'coil'), r('i', 0, 1, 'input')]);
    assert.deepEqual(shape(got), [
      ['holding', 0, 6, ['a', 'b', 'c']],
      ['input', 0, 1, ['i']],
      ['coil', 0, 1, ['x']],
    ]);
  });

  test('a gap up to maxGap is read; one more register splits', () => {
    assert.deepEqual(shape(plan([r('a', 0), r('b', 11)])), [['holding', 0, 12, ['a', 'b']]], '10 unused registers bridged (default)');
    assert.deepEqual(shape(plan([r('a', 0), r('b', 12)])), [
      ['holding', 0, 1, ['a']],
      ['holding', 12, 1, ['b']],
    ]);
    assert.deepEqual(shape(plan([r('a', 0), r('b', 2)], { maxGapRegisters: 0 })).length, 2);
    assert.deepEqual(shape(plan([r('a', 0), r('b', 1)], { maxGapRegisters: 0 })).length, 1, 'adjacent is no gap');
    assert.deepEqual(shape(plan([r('a', 0, 1, 'coil'), r('b', 65, 1, 'coil')])), [['coil', 0, 66, ['a', 'b']]], '64 bits bridged (default)');
    assert.equal(plan([r('a', 0, 1, 'coil'), r('b', 66, 1, 'coil')]).length, 2);
  });

  test('exactly 125 registers is one request, 126 two', () => {
    const regs = Array.from({ length: 125 }, (_, i) => r(`r${i}`, i));
    assert.deepEqual(
      plan(regs).map((b) => [b.address, b.count]),
      [[0, 125]],
    );
    assert.deepEqual(
      plan([...regs, r('r125', 125)]).map((b) => [b.address, b.count]),
      [
        [0, 125],
        [125, 1],
      ],
    );
    assert.deepEqual(
      plan([r('a', 0), r('b', 124)]).map((b) => [b.address, b.count]),
      [
        [0, 1],
        [124, 1],
      ],
      'with maxGap 10, a and b are too far apart anyway',
    );
    assert.deepEqual(
      plan([r('a', 0), r('b', 124)], { maxGapRegisters: 124 }).map((b) => [b.address, b.count]),
      [[0, 125]],
    );
  });

  test('a register across the 125 boundary starts the next request, whole', () => {
    const regs = [...Array.from({ length: 62 }, (_, i) => r(`f${i}`, i * 2, 2)), r('edge', 124, 2)];
    const got = plan(regs);
    assert.deepEqual(
      got.map((b) => [b.address, b.count]),
      [
        [0, 124],
        [124, 2],
      ],
    );
    assert.deepEqual(got[1]?.registers.map((x) => x.name), ['edge']);
    for (const b of got) assert.ok(b.count <= 125);
  });

  test('2000 bits is one request, 2001 two', () => {
    const bits = Array.from({ length: 2001 }, (_, i) => r(`b${i}`, i, 1, 'discrete'));
    assert.deepEqual(
      plan(bits.slice(0, 2000)).map((b) => [b.address, b.count]),
      [[0, 2000]],
    );
    assert.deepEqual(
      plan(bits).map((b) => [b.address, b.count]),
      [
        [0, 2000],
        [2000, 1],
      ],
    );
  });

  test('overlaps and duplicates share words: bit fields of one register, a uint32 and its low half', () => {
    const got = plan([r('alarm', 10), r('run', 10), r('total', 20, 2), r('total_lo', 21), r('inner', 20, 1)], { maxGapRegisters: 0 });
    assert.deepEqual(shape(got), [
      ['holding', 10, 1, ['alarm', 'run']],
      ['holding', 20, 2, ['total', 'inner', 'total_lo']],
    ]);
    const nested = plan([r('wide', 0, 4), r('in', 1, 1), r('next', 4)], { maxGapRegisters: 0 });
    assert.deepEqual(shape(nested), [['holding', 0, 5, ['wide', 'in', 'next']]], 'a register inside another does not shrink the block');
  });

  test('lower limits for devices that take less; the end of the address space', () => {
    assert.deepEqual(
      plan(Array.from({ length: 10 }, (_, i) => r(`r${i}`, i)), { maxRegisters: 4 }).map((b) => b.count),
      [4, 4, 2],
    );
    assert.deepEqual(shape(plan([r('last', 65532, 4)])), [['holding', 65532, 4, ['last']]]);
    assert.deepEqual(plan([]), []);
  });

  test('a gap is not bridged over a range to avoid (a register in quarantine), nor are other tables avoided', () => {
    const regs = [r('a', 0), r('b', 1), r('c', 3), r('d', 6)];
    assert.deepEqual(
      plan(regs, { avoid: [r('x', 2)] }).map((b) => [b.address, b.count]),
      [
        [0, 2],
        [3, 4],
      ],
    );
    assert.deepEqual(
      plan(regs, { avoid: [r('x', 2, 1, 'input'), r('y', 7)] }).map((b) => [b.address, b.count]),
      [[0, 7]],
      'an avoided range of another table, or outside every gap, changes nothing',
    );
    assert.deepEqual(
      plan([r('wide', 0, 2), r('c', 5)], { avoid: [r('lo', 1)] }).map((b) => [b.address, b.count]),
      [[0, 6]],
      'a range inside a planned register is read anyway (the register needs it); only gaps avoid',
    );
  });

  test('a register wider than a request is refused (a validated config has none)', () => {
    assert.throws(() => plan([r('huge', 0, 126)]), RangeError);
  });

  test('blockOf: the span of some registers', () => {
    assert.deepEqual(shape([blockOf([r('b', 7, 2), r('a', 3)])]), [['holding', 3, 6, ['b', 'a']]]);
    assert.throws(() => blockOf([]), RangeError);
    assert.throws(() => blockOf([r('a', 0), r('b', 0, 1, 'coil')]), RangeError);
  });
});
