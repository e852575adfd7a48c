import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModbusConfig, modbusSecrets, resolveDevices } from './config.js';

const reg = (o: Record<string, unknown> = {}) => ({ name: 'voltage', table: 'holding', address: 0, type: 'uint16', ...o });
const single = (o: Record<string, unknown> = {}) => ({ host: '10.0.0.5', registers: [reg()], ...o });

function issues(c: unknown): string[] {
  const r = ModbusConfig.safeParse(c);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('Modbus config', () => {
  test('the single-device case: host, port, unitId, intervalMs, timeoutMs, registers; defaults filled by resolveDevices', () => {
    assert.deepEqual(issues(single({ port: 1502, unitId: 3, intervalMs: 5000, timeoutMs: 500 })), []);
    const [d, ...rest] = resolveDevices(ModbusConfig.parse(single()));
    assert.equal(rest.length, 0);
    assert.deepEqual(
      { ...d, registers: undefined },
      { name: 'unit1', host: '10.0.0.5', port: 502, unitId: 1, intervalMs: 10_000, timeoutMs: 1000, registers: undefined },
    );
    assert.deepEqual(d?.registers[0], { name: 'voltage', table: 'holding', address: 0, type: 'uint16', width: 1, bit: undefined, wordOrder: 'big', byteOrder: 'big', scale: 1, offset: 0, unit: undefined });
    assert.deepEqual(modbusSecrets, []);
  });

  test('several devices behind one gateway inherit its host, port and timings', () => {
    const c = ModbusConfig.parse({
      host: 'gw.local',
      port: 5020,
      intervalMs: 2000,
      devices: [
        { name: 'meter-1', unitId: 1, registers: [reg()] },
        { name: 'meter-2', unitId: 2, intervalMs: 60_000, registers: [reg({ type: 'float32' })] },
        { name: 'plc', host: '10.0.0.9', port: 502, unitId: 255, registers: [reg({ table: 'coil', type: 'bool' })] },
      ],
    });
    const ds = resolveDevices(c);
    assert.deepEqual(
      ds.map((d) => [d.name, d.host, d.port, d.unitId, d.intervalMs, d.registers[0]?.width]),
      [
        ['meter-1', 'gw.local', 5020, 1, 2000, 1],
        ['meter-2', 'gw.local', 5020, 2, 60_000, 2],
        ['plc', '10.0.0.9', 502, 255, 2000, 1],
      ],
    );
  });

  test('top-level registers and devices together; the same unit may be polled at two rates', () => {
    const c = ModbusConfig.parse({ host: 'gw', device: 'fast', unitId: 4, intervalMs: 1000, registers: [reg()], devices: [{ name: 'slow', unitId: 4, intervalMs: 60_000, registers: [reg({ name: 'energy', type: 'uint64' })] }] });
    assert.deepEqual(
      resolveDevices(c).map((d) => [d.name, d.unitId, d.intervalMs]),
      [
        ['fast', 4, 1000],
        ['slow', 4, 60_000],
      ],
    );
  });

  test('what is refused, with where and why', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ host: 'h' }, /^registers: registers \(one device\) or devices/],
      [{ registers: [reg()] }, /^host: the top-level registers need a host/],
      [{ devices: [{ name: 'a', unitId: 1, registers: [reg()] }] }, /^devices\.0\.host: no host here/],
      [{ host: 'h', unitId: 1, devices: [{ name: 'a', unitId: 1, registers: [reg()] }] }, /^unitId: unitId is the unit of the top-level registers/],
      [single({ unitId: 256 }), /^unitId:/],
      [single({ port: 0 }), /^port:/],
      [single({ host: 'modbus://x' }), /^host: a host name/],
      [single({ extra: 1 }), /Unrecognized key/],
      [single({ intervalMs: 1000, timeoutMs: 2000 }), /^timeoutMs: timeoutMs 2000 is longer than intervalMs 1000/],
      [{ host: 'h', devices: [{ name: 'a', unitId: 1, intervalMs: 500, registers: [reg()] }] }, /^devices\.0\.intervalMs: timeoutMs 1000 is longer/],
      [{ host: 'h', devices: [{ name: 'a', unitId: 1, registers: [reg()] }, { name: 'a', unitId: 2, registers: [reg()] }] }, /^devices\.1\.name: a: a second device/],
      [{ host: 'h', registers: [reg()], devices: [{ name: 'unit1', unitId: 2, registers: [reg()] }] }, /^devices\.0\.name: unit1: a second device/],
      [single({ registers: [reg(), reg({ address: 5 })] }), /^registers\.1\.name: voltage: a second register/],
      [single({ registers: [reg({ name: 'volt-age' })] }), /^registers\.0\.name: a metric-safe name/],
      [single({ registers: [reg({ name: '1v' })] }), /^registers\.0\.name: a metric-safe name/],
      [single({ registers: [reg({ table: 'coil', type: 'uint16' })] }), /^registers\.0\.type: a coil is one bit: type bool/],
      [single({ registers: [reg({ table: 'discrete', type: 'bool', byteOrder: 'little' })] }), /^registers\.0\.table: wordOrder and byteOrder apply/],
      [single({ registers: [reg({ table: 'coil', type: 'bool', bit: 3 })] }), /^registers\.0\.bit: bit applies/],
      [single({ registers: [reg({ type: 'uint16', bit: 3 })] }), /^registers\.0\.bit: bit applies/],
      [single({ registers: [reg({ type: 'bool', bit: 16 })] }), /^registers\.0\.bit:/],
      [single({ registers: [reg({ type: 'string' })] }), /^registers\.0\.length: a string needs its length/],
      [single({ registers: [reg({ length: 2 })] }), /^registers\.0\.length: length applies to type string/],
      [single({ registers: [reg({ type: 'string', length: 126 })] }), /^registers\.0\.length:/],
      [single({ registers: [reg({ type: 'string', length: 4, name: 'device' })] }), /^registers\.0\.name: device is a label the connector sets/],
      [single({ registers: [reg({ type: 'string', length: 4, scale: 2 })] }), /^registers\.0\.type: scale, offset and unit do not apply to string/],
      [single({ registers: [reg({ type: 'bool', unit: 'V' })] }), /^registers\.0\.type: scale, offset and unit do not apply to bool/],
      [single({ registers: [reg({ wordOrder: 'little' })] }), /^registers\.0\.wordOrder: wordOrder applies to values of 2 or 4/],
      [single({ registers: [reg({ type: 'float32', address: 65535 })] }), /^registers\.0\.address: address 65535 \+ 2 registers passes the end/],
      [single({ registers: [reg({ type: 'string', length: 10, address: 65530 })] }), /^registers\.0\.address: address 65530 \+ 10/],
      [single({ registers: [reg({ address: 65536 })] }), /^registers\.0\.address:/],
      [single({ registers: [reg({ address: 1.5 })] }), /^registers\.0\.address:/],
      [single({ registers: [reg({ table: 'memory' })] }), /^registers\.0\.table:/],
      [single({ registers: [reg({ type: 'int8' })] }), /^registers\.0\.type:/],
      [single({ registers: [reg({ scale: Number.POSITIVE_INFINITY })] }), /^registers\.0\.scale:/],
      [single({ registers: [] }), /^registers:/],
    ];
    for (const [c, want] of cases) {
      const got = issues(c);
      assert.ok(
        got.some((g) => want.test(g)),
        `${JSON.stringify(c)}: expected ${want}, got ${JSON.stringify(got)}`,
      );
    }
  });

  test('edges that are accepted', () => {
    assert.deepEqual(issues(single({ registers: [reg({ type: 'uint64', address: 65532 })] })), []);
    assert.deepEqual(issues(single({ registers: [reg({ type: 'string', length: 125, name: 'serial' })] })), []);
    assert.deepEqual(issues(single({ registers: [reg({ type: 'bool', bit: 15, table: 'input' })] })), []);
    assert.deepEqual(issues(single({ unitId: 0, registers: [reg({ type: 'float64', wordOrder: 'little', byteOrder: 'little', scale: 0.01, offset: -1, unit: 'kWh' })] })), []);
    assert.deepEqual(issues(single({ host: 'fe80::1' })), []);
    // A string may share a name with nothing numeric: names are unique in the device whatever their type.
    assert.ok(issues(single({ registers: [reg({ name: 'serial' }), reg({ name: 'serial', type: 'string', length: 2 })] })).length > 0);
  });
});
