import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ResolvedRegister, type Table, resolveRegister } from './config.js';
import { type ReadFn, exceptionMessage, modbusException, readBlock, readingsOf } from './bisect.js';
import { plan } from './plan.js';

const reg = (name: string, address: number, o: Partial<Parameters<typeof resolveRegister>[0]> = {}): ResolvedRegister => resolveRegister({ name, table: 'holding', address, type: 'uint16', ...o });

/** An error as modbus-serial rejects with. */
function exception(code: number): Error {
  return Object.assign(new Error(`Modbus exception ${code}`), { modbusCode: code });
}

interface Device {
  read: ReadFn;
  requests: Array<[Table, number, number]>;
}

/** A device whose register at address a holds a, refusing any request that covers one of `bad`. */
function device(bad: number[], code = 2): Device {
  const requests: Array<[Table, number, number]> = [];
  return {
    requests,
    read: async (table, address, count) => {
      requests.push([table, address, count]);
      if (bad.some((x) => x >= address && x < address + count)) throw exception(code);
      return Array.from({ length: count }, (_, i) => (table === 'coil' || table === 'discrete' ? (address + i) % 2 === 1 : address + i));
    },
  };
}

const values = (rs: Array<{ register: { name: string }; value: number | string }>) => Object.fromEntries(rs.map((v) => [v.register.name, v.value]));

describe('Modbus block read and bisection', () => {
  test('a block that reads: one request, every register decoded at its place', async () => {
    const d = device([]);
    const [block] = plan([reg('a', 3), reg('b', 5, { type: 'uint32' }), reg('s', 8, { type: 'string', length: 1 }), reg('f', 9, { scale: 0.5 })]);
    const got = await readBlock(block!, d.read);
    assert.equal(got.requests, 1);
    assert.deepEqual(d.requests, [['holding', 3, 7]]);
    assert.deepEqual(values(readingsOf(got)), { a: 3, b: 5 * 65536 + 6, s: '??', f: 4.5 }); // s: 0x0008, a NUL and a backspace
    assert.deepEqual(got.quarantined, []);
    assert.equal(got.chunks.map((c) => c.block).length, 1);
  });

  test('coils: booleans to 1 and 0', async () => {
    const [block] = plan([reg('c0', 0, { table: 'coil', type: 'bool' }), reg('c1', 1, { table: 'coil', type: 'bool' })]);
    const got = await readBlock(block!, device([]).read);
    assert.deepEqual(values(readingsOf(got)), { c0: 0, c1: 1 });
  });

  test('one refused register among 100: only it is quarantined, in a logarithmic number of requests', async () => {
    for (const bad of [0, 37, 63, 99]) {
      const d = device([bad]);
      const regs = Array.from({ length: 100 }, (_, i) => reg(`r${i}`, i));
      const [block] = plan(regs);
      const got = await readBlock(block!, d.read);
      assert.deepEqual(got.quarantined, [{ name: `r${bad}`, table: 'holding', address: bad, code: 2, error: 'illegal data address (exception 2)' }]);
      assert.equal(readingsOf(got).length, 99);
      for (const v of readingsOf(got)) assert.equal(v.value, v.register.address);
      assert.equal(got.requests, d.requests.length);
      assert.ok(got.requests <= 2 * Math.ceil(Math.log2(100)) + 1, `${got.requests} requests for bad ${bad}`);
      // What read covers every register but the bad one, each once.
      assert.deepEqual(got.chunks.map((c) => c.block).flatMap((b) => b.registers.map((r) => r.address)).sort((a, b) => a - b), regs.map((r) => r.address).filter((a) => a !== bad));
    }
  });

  test('a refused gap (an unused address read to join two ranges): nothing quarantined, the halves read around it', async () => {
    const d = device([5]);
    const [block] = plan([reg('a', 0), reg('b', 1), reg('c', 8), reg('e', 9)]);
    assert.equal(block!.count, 10);
    const got = await readBlock(block!, d.read);
    assert.deepEqual(got.quarantined, []);
    assert.deepEqual(values(readingsOf(got)), { a: 0, b: 1, c: 8, e: 9 });
    assert.deepEqual(d.requests, [
      ['holding', 0, 10],
      ['holding', 0, 2],
      ['holding', 8, 2],
    ]);
    assert.deepEqual(
      got.chunks.map((c) => c.block).map((b) => [b.address, b.count]),
      [
        [0, 2],
        [8, 2],
      ],
    );
  });

  test('a wide register is never split: a refused float32 is quarantined whole', async () => {
    const d = device([11], 3);
    const [block] = plan([reg('a', 8), reg('f', 10, { type: 'float32' }), reg('b', 12)]);
    const got = await readBlock(block!, d.read);
    assert.deepEqual(
      got.quarantined.map((q) => [q.name, q.address, q.error]),
      [['f', 10, 'illegal data value (exception 3)']],
    );
    assert.deepEqual(values(readingsOf(got)), { a: 8, b: 12 });
    for (const [, address, count] of d.requests) assert.ok(!(address === 11 && count === 1), 'never a request of half the float');
  });

  test('bit fields of one refused register are quarantined together, without asking again', async () => {
    const d = device([4]);
    const [block] = plan([reg('alarm', 4, { type: 'bool', bit: 0 }), reg('run', 4, { type: 'bool', bit: 1 }), reg('trip', 4, { type: 'bool', bit: 2 })]);
    const got = await readBlock(block!, d.read);
    assert.deepEqual(got.quarantined.map((q) => q.name).sort(), ['alarm', 'run', 'trip']);
    assert.equal(got.requests, 1, 'the same span is not asked again');
  });

  test('two refused registers', async () => {
    const d = device([10, 90]);
    const [block] = plan(Array.from({ length: 100 }, (_, i) => reg(`r${i}`, i)));
    const got = await readBlock(block!, d.read);
    assert.deepEqual(got.quarantined.map((q) => q.address), [10, 90]);
    assert.equal(readingsOf(got).length, 98);
    assert.ok(got.requests <= 4 * Math.ceil(Math.log2(100)) + 1, `${got.requests}`);
  });

  test('illegal function (exception 1) quarantines the block at once', async () => {
    const d = device([0], 1);
    const [block] = plan([reg('a', 0, { table: 'input' }), reg('b', 1, { table: 'input' })]);
    const got = await readBlock(block!, d.read);
    assert.equal(got.requests, 1);
    assert.deepEqual(got.quarantined.map((q) => [q.name, q.error]), [
      ['a', 'illegal function (exception 1)'],
      ['b', 'illegal function (exception 1)'],
    ]);
  });

  test('timeouts, connection errors, busy and gateway exceptions are not bisected: they fail the poll', async () => {
    const [block] = plan([reg('a', 0), reg('b', 1)]);
    for (const err of [Object.assign(new Error('Timed out'), { errno: 'ETIMEDOUT' }), Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), exception(6), exception(11)]) {
      let calls = 0;
      await assert.rejects(
        readBlock(block!, async () => {
          calls++;
          throw err;
        }),
        (e) => e === err,
      );
      assert.equal(calls, 1, err.message);
    }
  });

  test('a short response fails the poll', async () => {
    const [block] = plan([reg('a', 0), reg('b', 1)]);
    await assert.rejects(
      readBlock(block!, async () => [1]),
      /holding 0\+2: 1 values in the response/,
    );
  });

  test('a custom classifier and policy (another client library)', async () => {
    const [block] = plan([reg('a', 0), reg('b', 1)]);
    const got = await readBlock(
      block!,
      async (_t, address, count) => {
        if (address === 0) throw Object.assign(new Error('x'), { exceptionCode: 6 });
        return new Uint16Array(count);
      },
      { classify: (e) => ({ code: (e as { exceptionCode: number }).exceptionCode, message: exceptionMessage((e as { exceptionCode: number }).exceptionCode) }), policy: () => 'bisect' },
    );
    assert.deepEqual(got.quarantined.map((q) => [q.name, q.error]), [['a', 'server device busy (exception 6)']]);
    assert.deepEqual(values(readingsOf(got)), { b: 0 });
  });

  test('modbusException: modbus-serial errors, and nothing else', () => {
    assert.deepEqual(modbusException(exception(2)), { code: 2, message: 'illegal data address (exception 2)' });
    assert.equal(modbusException(new Error('Timed out')), undefined);
    assert.equal(modbusException({ modbusCode: '2' }), undefined);
    assert.equal(modbusException(null), undefined);
    assert.equal(exceptionMessage(99), 'unknown exception (exception 99)');
  });
});
