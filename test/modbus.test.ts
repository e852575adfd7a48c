// The Modbus TCP connector against two independent real servers, each in its
// own process: modbus-serial's ServerTCP and pymodbus 3.16.1 (from PyPI, in
// a cached venv: test/services/modbus.ts). The same register map on both:
// every data type, word order and byte order decoded to values computed
// independently of the decoder (struct.pack); two unit ids sharing one
// connection; an illegal address in the middle of a block quarantines that
// register only while the others keep flowing; a server killed and started
// again is polled again. On the Node peer: a slow server times out without
// stalling the devices of another.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import client from 'prom-client';
import { ModbusConfig } from '../src/connectors/modbus/config.js';
import { ModbusConnector } from '../src/connectors/modbus/index.js';
import { ConnectorMetrics, ConnectorStatus } from '../src/connectors/status.js';
import { silentLogger } from '../src/log/index.js';
import { type RecordedSample, recordingPort } from './helpers.js';
import type { Service } from './services/index.js';
import { waitFor } from './services/index.js';
import { type ModbusPeerKind, type ModbusSpec, PYMODBUS_VERSION, preparePymodbus, startModbusPeer } from './services/modbus.js';

const pymodbus = await preparePymodbus((line) => console.log(`pymodbus: ${line}`));
const pymodbusSkip = 'unavailable' in pymodbus ? `pymodbus ${PYMODBUS_VERSION} is not available here: ${pymodbus.unavailable}` : false;
if (pymodbusSkip) console.log(`SKIPPED: ${pymodbusSkip}`);

/** The words of each value, as struct.pack('>…') gives them (big-endian, high word first). */
const SPEC: ModbusSpec = {
  units: {
    '1': {
      holding: {
        0: 0xfb2e, // int16 -1234 (× 0.1), and as uint16 64302 at 1
        1: 0xfb2e,
        2: 0xf8a4, // int32 -123456789
        3: 0x32eb,
        4: 0x2800, // uint32 4000000000, low word first
        5: 0xee6b,
        6: 0x42f6, // float32 123.456: ABCD
        7: 0xe979,
        8: 0xe979, // CDAB
        9: 0x42f6,
        10: 0xf642, // BADC
        11: 0x79e9,
        12: 0x79e9, // DCBA
        13: 0xf642,
        14: 0xffff, // int64 -1234567890123
        15: 0xfee0,
        16: 0x8e04,
        17: 0xfb35,
        18: 0x001f, // uint64 2^53 - 1
        19: 0xffff,
        20: 0xffff,
        21: 0xffff,
        22: 0xbf64, // float64 -0.0025
        23: 0x7ae1,
        24: 0x47ae,
        25: 0x147b,
        26: 0b101, // status bits 0 and 2
        30: 0x534e, // "SN-0042"
        31: 0x2d30,
        32: 0x3034,
        33: 0x3200,
        // 50..54 without 52: a register the device does not implement, in the middle of a block
        50: 50,
        51: 51,
        53: 53,
        54: 54,
      },
      input: { 0: 100 },
      coil: { 0: 1, 1: 0, 2: 1 },
      discrete: { 3: 1 },
    },
    '2': { holding: { 0: 42 } },
  },
};

const REGISTERS = [
  { name: 'temperature', table: 'holding', address: 0, type: 'int16', scale: 0.1, unit: '°C' },
  { name: 'raw', table: 'holding', address: 1, type: 'uint16' },
  { name: 'energy_delta', table: 'holding', address: 2, type: 'int32' },
  { name: 'counter', table: 'holding', address: 4, type: 'uint32', wordOrder: 'little' },
  { name: 'f_abcd', table: 'holding', address: 6, type: 'float32' },
  { name: 'f_cdab', table: 'holding', address: 8, type: 'float32', wordOrder: 'little' },
  { name: 'f_badc', table: 'holding', address: 10, type: 'float32', byteOrder: 'little' },
  { name: 'f_dcba', table: 'holding', address: 12, type: 'float32', wordOrder: 'little', byteOrder: 'little' },
  { name: 'i64', table: 'holding', address: 14, type: 'int64' },
  { name: 'u64', table: 'holding', address: 18, type: 'uint64' },
  { name: 'f64', table: 'holding', address: 22, type: 'float64', unit: 'm' },
  { name: 'running', table: 'holding', address: 26, type: 'bool', bit: 0 },
  { name: 'fault', table: 'holding', address: 26, type: 'bool', bit: 1 },
  { name: 'remote', table: 'holding', address: 26, type: 'bool', bit: 2 },
  { name: 'serial', table: 'holding', address: 30, type: 'string', length: 4 },
  { name: 'a50', table: 'holding', address: 50, type: 'uint16' },
  { name: 'a51', table: 'holding', address: 51, type: 'uint16' },
  { name: 'a52', table: 'holding', address: 52, type: 'uint16' },
  { name: 'a53', table: 'holding', address: 53, type: 'uint16' },
  { name: 'a54', table: 'holding', address: 54, type: 'uint16' },
  { name: 'level', table: 'input', address: 0, type: 'uint16', scale: 0.5, offset: -10, unit: '%' },
  { name: 'pump', table: 'coil', address: 0, type: 'bool' },
  { name: 'valve', table: 'coil', address: 1, type: 'bool' },
  { name: 'fan', table: 'coil', address: 2, type: 'bool' },
  { name: 'door', table: 'discrete', address: 3, type: 'bool' },
];

const f32 = (x: number) => Math.fround(x);
/** modbus_<name> → value, for device plc1 (unit 1). */
const EXPECTED: Record<string, number> = {
  temperature: -123.4,
  raw: 64302,
  energy_delta: -123456789,
  counter: 4000000000,
  f_abcd: f32(123.456),
  f_cdab: f32(123.456),
  f_badc: f32(123.456),
  f_dcba: f32(123.456),
  i64: -1234567890123,
  u64: 2 ** 53 - 1,
  f64: -0.0025,
  running: 1,
  fault: 0,
  remote: 1,
  a50: 50,
  a51: 51,
  a53: 53,
  a54: 54,
  level: 40,
  pump: 1,
  valve: 0,
  fan: 1,
  door: 1,
};

interface Running {
  c: ModbusConnector;
  status: ConnectorStatus;
  samples: RecordedSample[];
  registry: client.Registry;
}

const running: ModbusConnector[] = [];

function start(config: unknown): Running {
  const registry = new client.Registry();
  const status = new ConnectorStatus('plc', 'modbus', new ConnectorMetrics(registry), 'test:1');
  const port = recordingPort();
  const c = new ModbusConnector(ModbusConfig.parse(config), { name: 'plc', port, status, log: silentLogger, dataDir: '/nonexistent' });
  running.push(c);
  void c.start();
  return { c, status, samples: port.samples, registry };
}

/** The samples of `device` polled after `sinceMs`, by sample name. */
function latest(samples: readonly RecordedSample[], device: string, sinceMs = 0): Map<string, RecordedSample> {
  const out = new Map<string, RecordedSample>();
  for (const s of samples) if (s.labels.device === device && s.ts >= sinceMs) out.set(s.labels.__name__!.replace(/^modbus_/, ''), s);
  return out;
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  await waitFor(what, async () => cond(), timeoutMs);
}

after(async () => {
  await Promise.all(running.map((c) => c.stop()));
});

for (const kind of ['node', 'pymodbus'] as ModbusPeerKind[]) {
  const skip = kind === 'pymodbus' ? pymodbusSkip : false;
  const peerName = kind === 'node' ? "modbus-serial's ServerTCP" : `pymodbus ${PYMODBUS_VERSION}`;

  describe(`Modbus connector against ${peerName} (a real server in its own process)`, { skip }, () => {
    let peer: Service;
    before(async () => {
      peer = await startModbusPeer(kind, SPEC, 'python' in pymodbus ? { python: pymodbus.python } : {});
    });
    after(async () => {
      await peer?.destroy();
    });

    test('every type, word order and byte order decoded; two units on one connection; an illegal address quarantines only its register; a killed server is polled again once back', async () => {
      const t0 = Date.now();
      const { c, status, samples, registry } = start({
        host: '127.0.0.1',
        port: peer.port,
        intervalMs: 300,
        timeoutMs: 300,
        devices: [
          { name: 'plc1', unitId: 1, registers: REGISTERS },
          { name: 'plc2', unitId: 2, registers: [{ name: 'setpoint', table: 'holding', address: 0, type: 'int16', unit: 'bar' }] },
        ],
      });
      await until('every register of plc1 read, and plc2', () => latest(samples, 'plc1').size === Object.keys(EXPECTED).length && latest(samples, 'plc2').size === 1);
      const got = latest(samples, 'plc1');
      for (const [name, want] of Object.entries(EXPECTED)) {
        const v = got.get(name)!.value;
        if (Number.isInteger(want)) assert.equal(v, want, name);
        else assert.ok(Math.abs(v - want) <= Math.abs(want) * 1e-12, `${name}: ${v}, want ${want}`);
      }
      // Labels: unit when the register has one; the string register a label; the reply's time.
      assert.deepEqual(got.get('temperature')!.labels, { __name__: 'modbus_temperature', device: 'plc1', unit_id: '1', unit: '°C', serial: 'SN-0042' });
      assert.deepEqual(got.get('pump')!.labels, { __name__: 'modbus_pump', device: 'plc1', unit_id: '1', serial: 'SN-0042' });
      assert.equal(got.has('serial'), false, 'a string is a label, not a value');
      assert.equal(got.has('a52'), false);
      const ts = got.get('temperature')!.ts;
      assert.ok(ts >= t0 && ts <= Date.now(), 'stamped when the reply arrived');
      assert.deepEqual(latest(samples, 'plc2').get('setpoint')!.labels, { __name__: 'modbus_setpoint', device: 'plc2', unit_id: '2', unit: 'bar' });
      assert.equal(latest(samples, 'plc2').get('setpoint')!.value, 42);

      // Only the refused register is quarantined, with its address and the exception; the others keep flowing.
      const view = status.view();
      assert.equal(view.quarantined?.length, 1, JSON.stringify(view.quarantined));
      assert.deepEqual({ ...view.quarantined![0], since: undefined }, { name: 'a52', device: 'plc1', table: 'holding', address: 52, error: 'illegal data address (exception 2)', since: undefined });
      assert.equal((await registry.getSingleMetric('sentio_connector_quarantined')!.get()).values[0]?.value, 1);
      const later = Date.now();
      await until('a later poll of the registers around a52', () => ['a51', 'a53', 'temperature'].every((n) => latest(samples, 'plc1', later).has(n)));
      assert.equal(latest(samples, 'plc1', later).has('a52'), false);
      assert.equal(status.view().state, 'up');

      // Killed (no goodbye) and started again on the same port: polls fail meanwhile, then resume.
      peer.process.kill('SIGKILL');
      await peer.stop();
      await until('the polls failing', () => status.view().state === 'backoff');
      assert.match(status.view().lastError?.reason ?? '', /device plc[12]: /);
      peer = await startModbusPeer(kind, undefined, { ...('python' in pymodbus ? { python: pymodbus.python } : {}), existing: { dir: peer.dir, port: peer.port } });
      const back = Date.now();
      await until('polls again after the restart', () => latest(samples, 'plc1', back).has('temperature') && latest(samples, 'plc2', back).has('setpoint'), 20_000);
      assert.equal(status.view().state, 'up');
      await c.stop();
      assert.equal(status.view().state, 'stopped');
    });
  });
}

describe("Modbus connector: a slow server (modbus-serial's ServerTCP answering after 2 s)", () => {
  const peers: Service[] = [];
  after(async () => {
    await Promise.all(peers.map((p) => p.destroy()));
  });

  test('its device times out at its timeoutMs while a device on another server keeps its rhythm', async () => {
    const [slow, fast] = await Promise.all([startModbusPeer('node', { delayMs: 2000, units: { '1': { holding: { 0: 7 } } } }), startModbusPeer('node', { units: { '1': { holding: { 0: 8 } } } })]);
    peers.push(slow, fast);
    const register = [{ name: 'v', table: 'holding', address: 0, type: 'uint16' }];
    const { c, status, samples } = start({
      devices: [
        { name: 'slow', host: '127.0.0.1', port: slow.port, unitId: 1, intervalMs: 1000, timeoutMs: 300, registers: register },
        { name: 'fast', host: '127.0.0.1', port: fast.port, unitId: 1, intervalMs: 250, timeoutMs: 250, registers: register },
      ],
    });
    await until('the slow device timing out', () => /device slow: no reply within 300 ms/.test(status.view().lastError?.reason ?? ''));
    const from = Date.now();
    await until('2 s of the fast device', () => Date.now() - from >= 2000 && latest(samples, 'fast', from).size > 0, 5000);
    const fastTs = samples.filter((s) => s.labels.device === 'fast' && s.ts >= from).map((s) => s.ts);
    assert.ok(fastTs.length >= 6, `the fast device polled ${fastTs.length} times in 2 s (every 250 ms)`);
    const gaps = fastTs.slice(1).map((t, i) => t - fastTs[i]!);
    assert.ok(Math.max(...gaps) < 750, `the fast device's gaps stay near 250 ms: ${gaps.join(', ')}`);
    assert.equal(samples.some((s) => s.labels.device === 'slow'), false, 'nothing of the slow device: its replies come after the timeout');
    assert.equal(status.view().state, 'up', 'up: one device answers');
    await c.stop();
  });
});
