// Zigbee2MQTT on top of the MQTT connector: a subscription of format
// `zigbee2mqtt` whose topic is the bridge's base topic (default
// `zigbee2mqtt`; it may hold captures, `site/{site}/zigbee2mqtt`, for
// several bridges) reads everything under it:
//
// - `<base>/bridge/devices` (retained, JSON): the devices, by IEEE address,
//   with friendly name, model, vendor and their exposes, which give each
//   property's unit and the words of binary properties (`value_on` /
//   `value_off`: ON/OFF, LOCK/UNLOCK, ...).
// - `<base>/<friendly_name>` (JSON object): one sample per number and
//   boolean, named `zigbee_<property>`; nested objects flattened (`color`
//   {x, y} → `zigbee_color_x`, `zigbee_color_y`); a binary property's words
//   as 1/0 (`state` ON/OFF, whatever the device's exposes say; without
//   exposes ON/OFF); other strings (`action`, enums) are not samples. The
//   sample time is the message's `last_seen` when Zigbee2MQTT adds it
//   (ISO 8601 or epoch ms), else its arrival. Labels: `device` (friendly
//   name), `ieee_address`, `model`, `vendor`, `unit` (from exposes, when the
//   property has one), the base topic's captures.
// - `<base>/<friendly_name>/availability`: `{"state":"online"}` (or the
//   legacy text `online` / `offline`) → `up` 1/0, with the device's labels;
//   it also sets the device's availability in the connector's devices.
// - `<base>/bridge/response/device/rename` (and the devices list published
//   after it): the device keeps its IEEE address, model and vendor, its
//   samples continue under the new `device` label at once; the device is the
//   same device (by IEEE address) in the connector's devices.
// - `<base>/bridge/state`: an offline bridge is the connector's last error.
// - `<base>/<name>/set|get...`, the other `bridge/...` topics and
//   per-attribute output topics are commands and logs, not samples.
//
// A friendly name may hold `/` (`kitchen/floor_light`): a topic is matched
// against the known names first. A device not (yet) in the bridge's list is
// labelled with its friendly name only.
//
// Cost per message: one JSON.parse and one walk over its keys; the label
// sets and series keys of a device's properties are built once, and again
// only when its entry in bridge/devices changes.

import { type Decoder, DecodeError, type Emit, metricName } from './codec.js';

/** What the connector learns of a device: for its status and staleness. */
export interface ZigbeeDeviceEvent {
  /** Stable across renames: `<base>/<ieee_address>`, or `<base>/<friendly name>` while its address is unknown. */
  key: string;
  labels: Readonly<Record<string, string>>;
  /** The message's time (its last_seen, else its arrival). */
  ts: number;
  /** Set for availability messages. */
  online?: boolean;
}

export interface ZigbeeHooks {
  /** A message of a device arrived (samples or availability). */
  device?(e: ZigbeeDeviceEvent): void;
  /** The bridge went offline or came back. */
  bridge?(base: string, online: boolean): void;
}

/** A property's exposes: its unit, and the words of a binary one. */
interface Expose {
  unit?: string;
  on?: unknown;
  off?: unknown;
}

interface Device {
  ieee: string | undefined;
  name: string;
  model: string | undefined;
  vendor: string | undefined;
  exposes: Map<string, Expose>;
  /** Labels without `unit`. */
  labels: Record<string, string>;
  key: string;
  /** Per flattened property: its sample's labels and series key. */
  series: Map<string, { labels: Record<string, string>; key: string }>;
  up?: { labels: Record<string, string>; key: string };
}

/** One bridge (one base topic as published): its devices by friendly name. */
class Bridge {
  readonly byName = new Map<string, Device>();
  readonly byIeee = new Map<string, Device>();
  constructor(
    readonly base: string,
    readonly captures: Readonly<Record<string, string>>,
  ) {}

  /** Devices not in the bridge's list, remembered (their label sets cached) up to MAX_UNKNOWN_DEVICES: anyone publishing under the base topic could name new ones without end. */
  private unknown = 0;

  device(name: string): Device {
    let d = this.byName.get(name);
    if (d === undefined) {
      d = this.make(name, undefined, undefined, undefined, new Map());
      if (this.unknown < MAX_UNKNOWN_DEVICES) {
        this.unknown++;
        this.byName.set(name, d);
      }
    }
    return d;
  }

  make(name: string, ieee: string | undefined, model: string | undefined, vendor: string | undefined, exposes: Map<string, Expose>): Device {
    const labels: Record<string, string> = { ...this.captures, device: name };
    if (ieee !== undefined) labels.ieee_address = ieee;
    if (model !== undefined) labels.model = model;
    if (vendor !== undefined) labels.vendor = vendor;
    return { ieee, name, model, vendor, exposes, labels, key: `${this.base}/${ieee ?? name}`, series: new Map() };
  }

  /** Replaces the devices by those of a bridge/devices message. */
  setDevices(list: unknown[]): void {
    this.byName.clear();
    this.byIeee.clear();
    this.unknown = 0;
    for (const e of list) {
      if (e === null || typeof e !== 'object') continue;
      const r = e as Record<string, unknown>;
      if (r.type === 'Coordinator') continue;
      const name = str(r.friendly_name) ?? str(r.ieee_address);
      if (name === undefined) continue;
      const def = r.definition !== null && typeof r.definition === 'object' ? (r.definition as Record<string, unknown>) : undefined;
      const exposes = new Map<string, Expose>();
      if (Array.isArray(def?.exposes)) flattenExposes(def.exposes, '', exposes, 0);
      const d = this.make(name, str(r.ieee_address), str(def?.model) ?? str(r.model_id), str(def?.vendor) ?? str(r.manufacturer), exposes);
      this.byName.set(name, d);
      if (d.ieee !== undefined) this.byIeee.set(d.ieee, d);
    }
  }

  /** A rename answered by the bridge: the same device under its new name. */
  rename(from: string, to: string): void {
    const old = this.byName.get(from) ?? this.byIeee.get(from);
    if (old === undefined) return;
    this.byName.delete(old.name);
    const d = this.make(to, old.ieee, old.model, old.vendor, old.exposes);
    this.byName.set(to, d);
    if (d.ieee !== undefined) this.byIeee.set(d.ieee, d);
  }

  /** The device a topic below the base names, and what follows its name: longest known name first. */
  resolve(rest: string): { device: Device | undefined; name: string; suffix: string } {
    let cut = rest.length;
    for (;;) {
      const name = rest.slice(0, cut);
      const d = this.byName.get(name);
      if (d !== undefined) return { device: d, name, suffix: rest.slice(cut) };
      cut = rest.lastIndexOf('/', cut - 1);
      if (cut <= 0) break;
    }
    // Unknown: the name is everything before a known suffix.
    const m = /^(.*?)(\/(availability|set|get)(\/.*)?)?$/.exec(rest)!;
    return { device: undefined, name: m[1]!, suffix: m[2] ?? '' };
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Exposes by flattened property: composites prefix their features (`color` → `color_x`); containers (light, switch, climate) pass through. */
function flattenExposes(list: unknown[], prefix: string, out: Map<string, Expose>, depth: number): void {
  if (depth > 8) return;
  for (const e of list) {
    if (e === null || typeof e !== 'object') continue;
    const x = e as Record<string, unknown>;
    const property = str(x.property);
    if (Array.isArray(x.features)) {
      const p = x.type === 'composite' || x.type === 'list' ? (property === undefined ? prefix : `${prefix}${property}_`) : prefix;
      flattenExposes(x.features, p, out, depth + 1);
      continue;
    }
    if (property === undefined) continue;
    const exp: Expose = {};
    const unit = str(x.unit);
    if (unit !== undefined) exp.unit = unit;
    if (x.type === 'binary') {
      exp.on = x.value_on;
      exp.off = x.value_off;
    }
    out.set(`${prefix}${property}`, exp);
  }
}

export const MAX_UNKNOWN_DEVICES = 10_000;

/** Properties that are not readings. */
const NOT_SAMPLES = new Set(['last_seen']);

export class Zigbee2MqttDecoder implements Decoder {
  private readonly bridges = new Map<string, Bridge>();
  private readonly baseLevels: number;

  /** `base`: the subscription's topic (the base topic, captures allowed). */
  constructor(
    base: string,
    private readonly hooks: ZigbeeHooks = {},
  ) {
    this.baseLevels = base.split('/').length;
  }

  /** Devices remembered, over all bridges. */
  get devices(): number {
    let n = 0;
    for (const b of this.bridges.values()) n += b.byName.size;
    return n;
  }

  decode(topic: string, payload: Buffer, captures: Readonly<Record<string, string>>, receivedMs: number, emit: Emit): void {
    const levels = topic.split('/');
    if (levels.length <= this.baseLevels) return; // the base itself: nothing of Zigbee2MQTT's
    const base = levels.slice(0, this.baseLevels).join('/');
    const rest = levels.slice(this.baseLevels).join('/');
    let bridge = this.bridges.get(base);
    if (bridge === undefined) {
      bridge = new Bridge(base, captures);
      this.bridges.set(base, bridge);
    }
    if (rest.startsWith('bridge/')) return this.bridgeMessage(bridge, rest.slice(7), payload);
    const { device, name, suffix } = bridge.resolve(rest);
    if (suffix === '/availability') return this.availability(device ?? bridge.device(name), payload, receivedMs, emit);
    if (suffix !== '') return; // set/get commands, per-attribute output
    if (name === '') return;
    this.state(device ?? bridge.device(name), payload, receivedMs, emit);
  }

  private bridgeMessage(bridge: Bridge, what: string, payload: Buffer): void {
    switch (what) {
      case 'devices': {
        const doc = parse(payload);
        if (!Array.isArray(doc)) throw new DecodeError(`${bridge.base}/bridge/devices: expected a JSON array of devices`);
        bridge.setDevices(doc);
        return;
      }
      case 'response/device/rename': {
        const doc = parse(payload) as { status?: unknown; data?: { from?: unknown; to?: unknown } } | null;
        const from = str(doc?.data?.from);
        const to = str(doc?.data?.to);
        if (doc?.status === 'ok' && from !== undefined && to !== undefined) bridge.rename(from, to);
        return;
      }
      case 'state': {
        const online = availabilityOf(payload);
        if (online !== undefined) this.hooks.bridge?.(bridge.base, online);
        return;
      }
      default:
        return; // info, logging, event, groups, definitions, extensions, requests: not samples
    }
  }

  private availability(d: Device, payload: Buffer, receivedMs: number, emit: Emit): void {
    const online = availabilityOf(payload);
    if (online === undefined) throw new DecodeError(`availability of ${d.name}: expected {"state":"online"|"offline"} or online/offline, got ${JSON.stringify(payload.toString('utf8').slice(0, 40))}`);
    d.up ??= { labels: { __name__: 'up', ...d.labels }, key: `${d.key}\u0000${d.name}\u0000up` };
    emit(d.up.labels, receivedMs, online ? 1 : 0, d.up.key, true);
    this.hooks.device?.({ key: d.key, labels: d.labels, ts: receivedMs, online });
  }

  private state(d: Device, payload: Buffer, receivedMs: number, emit: Emit): void {
    const doc = parse(payload);
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new DecodeError(`${d.name}: expected a JSON object, got ${doc === null ? 'null' : Array.isArray(doc) ? 'an array' : typeof doc}`);
    const r = doc as Record<string, unknown>;
    const ts = timeOf(r.last_seen) ?? receivedMs;
    this.walk(d, r, '', ts, emit, 0);
    this.hooks.device?.({ key: d.key, labels: d.labels, ts });
  }

  private walk(d: Device, o: Record<string, unknown>, prefix: string, ts: number, emit: Emit, depth: number): void {
    for (const k in o) {
      if (depth === 0 && NOT_SAMPLES.has(k)) continue;
      const v = o[k];
      const property = prefix === '' ? k : `${prefix}_${k}`;
      let value: number | undefined;
      if (typeof v === 'number') value = Number.isFinite(v) ? v : undefined;
      else if (typeof v === 'boolean') value = v ? 1 : 0;
      else if (typeof v === 'string') value = word(d.exposes.get(property), v);
      else if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 4) {
        this.walk(d, v as Record<string, unknown>, property, ts, emit, depth + 1);
        continue;
      }
      if (value === undefined) continue;
      let s = d.series.get(property);
      if (s === undefined) {
        const labels: Record<string, string> = { __name__: `zigbee_${metricName(property)}`, ...d.labels };
        const unit = d.exposes.get(property)?.unit;
        if (unit !== undefined) labels.unit = unit;
        // The key names the labels: the same device renamed, or with a new unit, is another series.
        s = { labels, key: `${d.key}\u0000${d.name}\u0000${property}\u0000${unit ?? ''}` };
        d.series.set(property, s);
      }
      emit(s.labels, ts, value, s.key);
    }
  }
}

/** A binary property's word as 1/0: by its exposes, else ON/OFF; other strings are no sample. */
function word(e: Expose | undefined, v: string): number | undefined {
  if (e?.on !== undefined && v === e.on) return 1;
  if (e?.off !== undefined && v === e.off) return 0;
  if (v === 'ON' || v === 'on') return 1;
  if (v === 'OFF' || v === 'off') return 0;
  return undefined;
}

function parse(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new DecodeError(`not JSON: ${(err as Error).message}`);
  }
}

/** online/offline, as JSON ({"state": "online"}) or the legacy text; undefined for anything else. */
function availabilityOf(payload: Buffer): boolean | undefined {
  let text = payload.toString('utf8').trim();
  if (text.startsWith('{')) {
    try {
      text = String((JSON.parse(text) as { state?: unknown }).state);
    } catch {
      return undefined;
    }
  }
  if (text === 'online') return true;
  if (text === 'offline') return false;
  return undefined;
}

/** `last_seen` as Unix ms: ISO 8601 or epoch ms; undefined when absent or not a time. */
function timeOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v : undefined;
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}
