// The Modbus TCP connector's configuration (the `config` of a connector of
// kind `modbus`), checked when it is created or changed through the API or
// YAML. Like the other kinds, what is stored is what was sent: defaults are
// filled in by `resolveDevices`, once, when the connector is made.
//
// One connector config polls one or several devices (unit ids):
// - the single-device case, at the top level: host, port, unitId,
//   intervalMs, timeoutMs, registers;
// - `devices`: several devices, each with its own name, unitId, intervalMs,
//   timeoutMs and registers; host and port are inherited from the top level
//   unless a device names its own. Devices with the same host and port (the
//   units behind one Modbus TCP gateway) share one TCP connection.
// Both may be used at once: the top-level registers are then one more device.

import { z } from 'zod';

export const TABLES = ['holding', 'input', 'coil', 'discrete'] as const;
export type Table = (typeof TABLES)[number];

export const TYPES = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'bool', 'string'] as const;
export type RegisterType = (typeof TYPES)[number];

export const DEFAULTS = {
  port: 502,
  unitId: 1,
  intervalMs: 10_000,
  timeoutMs: 1_000,
  wordOrder: 'big',
  byteOrder: 'big',
  scale: 1,
  offset: 0,
  maxGapRegisters: 10,
  maxGapBits: 64,
} as const;

/** Labels the connector sets itself: a string register may not be named after one. */
export const RESERVED_LABELS = ['__name__', 'connector', 'device', 'unit', 'host', 'unit_id'] as const;

const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How many 16-bit registers (or, on coil and discrete tables, bits) a value of `type` takes. */
export function widthOf(type: RegisterType, length?: number): number {
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return length ?? 1;
  }
}

const Order = z.enum(['big', 'little']);

export const Register = z
  .object({
    name: z
      .string()
      .min(1)
      .max(200)
      .regex(METRIC_NAME, 'a metric-safe name: letters, digits and _, not starting with a digit')
      .describe('The sample is named modbus_<name> (a string register: the name of the label its text becomes), unique within its device.'),
    table: z.enum(TABLES).describe('holding (FC 3), input (FC 4), coil (FC 1) or discrete (FC 2).'),
    address: z.number().int().min(0).max(65535).describe('The 0-based protocol address (holding register 40001 is address 0).'),
    type: z.enum(TYPES).describe('coil and discrete: bool only. string: `length` registers, the text a label of the device samples.'),
    bit: z.number().int().min(0).max(15).optional().describe('bool on a holding or input register: this bit (0 the least significant, after byteOrder); without it, non-zero is 1.'),
    length: z.number().int().min(1).max(125).optional().describe('string: its length in registers (2 characters each).'),
    wordOrder: Order.optional().describe('Default big: the first register holds the most significant word (ABCD); little: the last (CDAB).'),
    byteOrder: Order.optional().describe('Default big: the high byte first within each register; little: bytes swapped (BADC, DCBA).'),
    scale: z.number().finite().optional().describe('Default 1: the value is raw × scale + offset.'),
    offset: z.number().finite().optional().describe('Default 0.'),
    unit: z.string().min(1).max(64).optional().describe('The unit (V, kWh, °C): the `unit` label of the sample.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    const bits = r.table === 'coil' || r.table === 'discrete';
    if (bits && r.type !== 'bool') ctx.addIssue({ code: 'custom', path: ['type'], message: `a ${r.table} is one bit: type bool` });
    if (bits && (r.wordOrder !== undefined || r.byteOrder !== undefined)) ctx.addIssue({ code: 'custom', path: ['table'], message: 'wordOrder and byteOrder apply to holding and input registers' });
    if (r.bit !== undefined && (bits || r.type !== 'bool')) ctx.addIssue({ code: 'custom', path: ['bit'], message: 'bit applies to type bool on a holding or input register' });
    if ((r.length !== undefined) !== (r.type === 'string')) ctx.addIssue({ code: 'custom', path: ['length'], message: r.type === 'string' ? 'a string needs its length in registers' : 'length applies to type string' });
    if ((r.type === 'string' || r.type === 'bool') && (r.scale !== undefined || r.offset !== undefined || r.unit !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['type'], message: `scale, offset and unit do not apply to ${r.type}` });
    }
    const w = widthOf(r.type, r.length);
    if (r.wordOrder !== undefined && (w < 2 || r.type === 'string')) ctx.addIssue({ code: 'custom', path: ['wordOrder'], message: 'wordOrder applies to values of 2 or 4 registers (32 and 64 bits)' });
    if (r.address + w > 65536) ctx.addIssue({ code: 'custom', path: ['address'], message: `address ${r.address} + ${w} registers passes the end of the table (65536)` });
    if (r.type === 'string' && (RESERVED_LABELS as readonly string[]).includes(r.name)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `${r.name} is a label the connector sets: choose another name` });
    }
    if (r.type === 'string' && r.name.startsWith('__')) ctx.addIssue({ code: 'custom', path: ['name'], message: 'a label name may not start with __' });
  });

const Registers = z
  .array(Register)
  .min(1)
  .max(2000)
  .superRefine((rs, ctx) => {
    const seen = new Set<string>();
    rs.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${r.name}: a second register of that name in this device` });
      seen.add(r.name);
    });
  });

const Host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:[\]_-]+$/, 'a host name or IP address, without a scheme or port');
const Port = z.number().int().min(1).max(65535);
const UnitId = z.number().int().min(0).max(255);
const IntervalMs = z.number().int().min(100).max(86_400_000);
const TimeoutMs = z.number().int().min(50).max(60_000);

export const Device = z
  .object({
    name: z.string().min(1).max(200).regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, _ . : and -').describe('The `device` label of its samples; unique in the connector.'),
    host: Host.optional().describe('Default the connector host: devices with the same host and port share one connection.'),
    port: Port.optional().describe('Default the connector port.'),
    unitId: UnitId.describe('The Modbus unit (slave) id, 0..255.'),
    intervalMs: IntervalMs.optional().describe('Default the connector intervalMs.'),
    timeoutMs: TimeoutMs.optional().describe('Default the connector timeoutMs.'),
    registers: Registers,
  })
  .strict();

export const ModbusConfig = z
  .object({
    host: Host.optional().describe('The Modbus TCP server (or gateway) to connect to; needed unless every device names its own.'),
    port: Port.optional().describe(`Default ${DEFAULTS.port}.`),
    unitId: UnitId.optional().describe(`Default ${DEFAULTS.unitId}: the unit id of the top-level registers (255 or 0 for many direct TCP devices).`),
    intervalMs: IntervalMs.optional().describe(`Default ${DEFAULTS.intervalMs}: one poll per interval, on a fixed grid.`),
    timeoutMs: TimeoutMs.optional().describe(`Default ${DEFAULTS.timeoutMs}: per request; a timeout fails the poll.`),
    registers: Registers.optional().describe('The registers of the top-level device (host, port, unitId).'),
    device: z.string().min(1).max(200).regex(/^[A-Za-z0-9_.:-]+$/).optional().describe('The `device` label of the top-level registers; default unit<unitId>.'),
    devices: z.array(Device).min(1).max(247).optional().describe('Several devices: each its unit id and registers; host and port inherited unless given.'),
    maxGapRegisters: z.number().int().min(0).max(124).optional().describe(`Default ${DEFAULTS.maxGapRegisters}: unused holding or input registers read to join two ranges in one request (0: never).`),
    maxGapBits: z.number().int().min(0).max(1999).optional().describe(`Default ${DEFAULTS.maxGapBits}: the same for coils and discrete inputs.`),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.registers === undefined && c.devices === undefined) ctx.addIssue({ code: 'custom', path: ['registers'], message: 'registers (one device) or devices (several) are needed' });
    if (c.registers === undefined && c.unitId !== undefined) ctx.addIssue({ code: 'custom', path: ['unitId'], message: 'unitId is the unit of the top-level registers: with devices only, give each device its unitId' });
    if (c.registers === undefined && c.device !== undefined) ctx.addIssue({ code: 'custom', path: ['device'], message: 'device names the top-level registers, and there are none' });
    if (c.host === undefined) {
      if (c.registers !== undefined) ctx.addIssue({ code: 'custom', path: ['host'], message: 'the top-level registers need a host' });
      c.devices?.forEach((d, i) => {
        if (d.host === undefined) ctx.addIssue({ code: 'custom', path: ['devices', i, 'host'], message: 'no host here and none at the top level' });
      });
    }
    const names = new Set<string>();
    if (c.registers !== undefined) names.add(c.device ?? `unit${c.unitId ?? DEFAULTS.unitId}`);
    c.devices?.forEach((d, i) => {
      if (names.has(d.name)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'name'], message: `${d.name}: a second device of that name` });
      names.add(d.name);
    });
    for (const [path, interval, timeout] of deviceTimings(c)) {
      if (timeout > interval) ctx.addIssue({ code: 'custom', path, message: `timeoutMs ${timeout} is longer than intervalMs ${interval}` });
    }
  });

export type ModbusConfig = z.infer<typeof ModbusConfig>;
export type Register = z.infer<typeof Register>;
export type Device = z.infer<typeof Device>;

function deviceTimings(c: ModbusConfig): Array<[Array<string | number>, number, number]> {
  const interval = c.intervalMs ?? DEFAULTS.intervalMs;
  const timeout = c.timeoutMs ?? DEFAULTS.timeoutMs;
  const out: Array<[Array<string | number>, number, number]> = [];
  if (c.registers !== undefined) out.push([['timeoutMs'], interval, timeout]);
  c.devices?.forEach((d, i) => out.push([['devices', i, d.timeoutMs !== undefined ? 'timeoutMs' : 'intervalMs'], d.intervalMs ?? interval, d.timeoutMs ?? timeout]));
  return out;
}

/** A register with its defaults filled in and its width known. */
export interface ResolvedRegister {
  name: string;
  table: Table;
  address: number;
  type: RegisterType;
  /** Registers (holding, input) or bits (coil, discrete). */
  width: number;
  bit: number | undefined;
  wordOrder: 'big' | 'little';
  byteOrder: 'big' | 'little';
  scale: number;
  offset: number;
  unit: string | undefined;
}

/** One device to poll, defaults filled in. */
export interface ResolvedDevice {
  name: string;
  host: string;
  port: number;
  unitId: number;
  intervalMs: number;
  timeoutMs: number;
  registers: ResolvedRegister[];
}

export function resolveRegister(r: Register): ResolvedRegister {
  return {
    name: r.name,
    table: r.table,
    address: r.address,
    type: r.type,
    width: widthOf(r.type, r.length),
    bit: r.bit,
    wordOrder: r.wordOrder ?? DEFAULTS.wordOrder,
    byteOrder: r.byteOrder ?? DEFAULTS.byteOrder,
    scale: r.scale ?? DEFAULTS.scale,
    offset: r.offset ?? DEFAULTS.offset,
    unit: r.unit,
  };
}

/** The devices of a validated config, defaults filled in: the top-level device (if it has registers) first. */
export function resolveDevices(c: ModbusConfig): ResolvedDevice[] {
  const port = c.port ?? DEFAULTS.port;
  const intervalMs = c.intervalMs ?? DEFAULTS.intervalMs;
  const timeoutMs = c.timeoutMs ?? DEFAULTS.timeoutMs;
  const out: ResolvedDevice[] = [];
  if (c.registers !== undefined) {
    const unitId = c.unitId ?? DEFAULTS.unitId;
    out.push({ name: c.device ?? `unit${unitId}`, host: c.host ?? '', port, unitId, intervalMs, timeoutMs, registers: c.registers.map(resolveRegister) });
  }
  for (const d of c.devices ?? []) {
    out.push({
      name: d.name,
      host: d.host ?? c.host ?? '',
      port: d.port ?? port,
      unitId: d.unitId,
      intervalMs: d.intervalMs ?? intervalMs,
      timeoutMs: d.timeoutMs ?? timeoutMs,
      registers: d.registers.map(resolveRegister),
    });
  }
  return out;
}

/** Config paths that hold secrets: none (Modbus TCP has no authentication). */
export const modbusSecrets = [] as const;
