// The connector kinds this gateway runs, each with the schema of its config
// (checked when a connector is created or changed, through the API or
// YAML), the config paths that hold secrets (write-only in the API, never
// logged), and how it is made. A kind of the store's list without an entry
// here cannot be created or enabled.

import type { z } from 'zod';
import { SentioError, validationError } from '../errors.js';
import type { ConnectorKind } from '../store/types.js';
import { HomeAssistantConnector } from './homeassistant/index.js';
import { HomeAssistantConfig, homeAssistantSecrets } from './homeassistant/config.js';
import { ModbusConnector } from './modbus/index.js';
import { ModbusConfig, modbusSecrets } from './modbus/config.js';
import { MqttConnector } from './mqtt/index.js';
import { OpcuaConnector } from './opcua/index.js';
import { OpcuaConfig, opcuaSecrets } from './opcua/config.js';
import { MqttConfig, mqttSecrets } from './mqtt/config.js';
import type { Connector, ConnectorContext } from './types.js';

export interface ConnectorKindDef {
  kind: ConnectorKind;
  schema: z.ZodType;
  /** Dot paths into the config. */
  secrets: readonly string[];
  create(config: unknown, ctx: ConnectorContext): Connector;
}

const defs: Partial<Record<ConnectorKind, ConnectorKindDef>> = {
  mqtt: { kind: 'mqtt', schema: MqttConfig, secrets: mqttSecrets, create: (c, ctx) => new MqttConnector(c as MqttConfig, ctx) },
  homeassistant: { kind: 'homeassistant', schema: HomeAssistantConfig, secrets: homeAssistantSecrets, create: (c, ctx) => new HomeAssistantConnector(c as HomeAssistantConfig, ctx) },
  opcua: { kind: 'opcua', schema: OpcuaConfig, secrets: opcuaSecrets, create: (c, ctx) => new OpcuaConnector(c as OpcuaConfig, ctx) },
  modbus: { kind: 'modbus', schema: ModbusConfig, secrets: modbusSecrets, create: (c, ctx) => new ModbusConnector(c as ModbusConfig, ctx) },
};

/** The kinds that run here. */
export const availableKinds: readonly ConnectorKind[] = Object.keys(defs) as ConnectorKind[];

export function kindDef(kind: ConnectorKind): ConnectorKindDef | undefined {
  return defs[kind];
}

/**
 * The config checked against its kind's schema (defaults not filled in: what
 * is stored is what was sent). Throws SENTIO_ERR_VALIDATION naming each bad
 * field as `<where>.<path>` (details.issues), like the API's own checks.
 */
export function validateConnectorConfig(kind: ConnectorKind, config: unknown, where = 'config'): void {
  const def = defs[kind];
  if (def === undefined) {
    throw new SentioError('SENTIO_ERR_VALIDATION', `kind: no ${kind} connector in this version of the gateway (available: ${availableKinds.join(', ')})`, {
      details: { issues: [{ path: 'kind', message: `not available in this version (available: ${availableKinds.join(', ')})` }] },
    });
  }
  const r = def.schema.safeParse(config);
  if (!r.success) throw validationError(where, r.error);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function getPath(o: Obj, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split('.')) v = isObj(v) ? v[k] : undefined;
  return v;
}

/** A copy of `o` with `path` set to `value` (undefined: removed); parents are created as needed. */
function setPath(o: Obj, path: string, value: unknown): Obj {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  const out: Obj = { ...o };
  if (rest.length === 0) {
    if (value === undefined) delete out[head];
    else out[head] = value;
    return out;
  }
  const child = isObj(out[head]) ? (out[head] as Obj) : {};
  if (value === undefined && !isObj(out[head])) return out;
  const next = setPath(child, rest.join('.'), value);
  // Removing the last setting of an object removes the object (tls: {} would still ask for TLS).
  if (value === undefined && Object.keys(next).length === 0) delete out[head];
  else out[head] = next;
  return out;
}

/** The config as the API shows it: secrets removed, and which of them are set. */
export function redactSecrets(kind: ConnectorKind, config: Obj): { config: Obj; secrets: string[] } {
  const paths = defs[kind]?.secrets ?? [];
  let out = config;
  const set: string[] = [];
  for (const p of paths) {
    if (getPath(config, p) !== undefined) set.push(p);
    out = setPath(out, p, undefined);
  }
  return { config: out, secrets: set };
}

/**
 * A changed config with the stored secrets it does not mention kept: the API
 * never shows secrets, so a config sent back without them keeps them. A
 * secret sent as null is removed.
 */
export function keepSecrets(kind: ConnectorKind, stored: Obj, incoming: Obj): Obj {
  let out = incoming;
  for (const p of defs[kind]?.secrets ?? []) {
    const sent = getPath(incoming, p);
    if (sent === null) out = setPath(out, p, undefined);
    else if (sent === undefined) {
      const kept = getPath(stored, p);
      if (kept !== undefined) out = setPath(out, p, kept);
    }
  }
  return out;
}
