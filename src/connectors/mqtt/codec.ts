// Payload decoders of the MQTT connector. Each turns one message into
// samples (name, labels, timestamp, value) or throws a DecodeError saying
// why it could not; line protocol is not decoded here but parsed by the
// native core (index.ts).
//
// - json / msgpack: an object, or an array of objects (one record each).
//   `fields` maps field names to paths (`a.b`, `list.0.x`); without it every
//   number and boolean in the record is a field, nested names joined by `_`.
//   `tags` maps label names to paths (their values as text). `time` names a
//   path and its unit (s, ms, us, ns: a number; iso: an RFC 3339 string);
//   without it a sample is stamped when the message arrived. Samples are
//   named `<measurement>_<field>`; the measurement defaults to `mqtt` and may
//   hold captures, `{device}`.
// - value: the payload is one number (or true/false, on/off), the sample
//   named `<measurement>`.
// Booleans are 1 and 0. Strings are not samples (skipped, not errors).

import { unpack } from 'msgpackr';

export class DecodeError extends Error {}

export type TimeUnit = 's' | 'ms' | 'us' | 'ns' | 'iso';

export interface RecordMapping {
  measurement?: string | undefined;
  fields?: Readonly<Record<string, string>> | undefined;
  tags?: Readonly<Record<string, string>> | undefined;
  time?: { path: string; unit: TimeUnit } | undefined;
}

/**
 * Receives one sample; `labels` holds `__name__` and is not modified
 * afterwards. `key`, when given, identifies the series (the same labels, the
 * same key) and saves computing one from the labels. `event`: a sample of a
 * series that changes on events, not at intervals (availability), so it is
 * no series to judge stale.
 */
export type Emit = (labels: Readonly<Record<string, string>>, timestampMs: number, value: number, key?: string, event?: boolean) => void;

export interface Decoder {
  decode(topic: string, payload: Buffer, captures: Readonly<Record<string, string>>, receivedMs: number, emit: Emit): void;
}

const BAD_NAME_CHAR = /[^A-Za-z0-9_:]/g;
const BAD_LABEL_CHAR = /[^A-Za-z0-9_]/g;

/** A Prometheus-safe metric name. */
export function metricName(s: string): string {
  const n = s.replace(BAD_NAME_CHAR, '_');
  return /^[0-9]/.test(n) ? `_${n}` : n;
}

export function labelName(s: string): string {
  const n = s.replace(BAD_LABEL_CHAR, '_');
  return /^[0-9]/.test(n) ? `_${n}` : n;
}

/** `{name}` placeholders of `template` filled from `captures` (an unknown one stays as written). */
export function fill(template: string, captures: Readonly<Record<string, string>>): string {
  return template.includes('{') ? template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, k: string) => captures[k] ?? m) : template;
}

/** The value at a dot path (`a.b.0`), or undefined. */
export function at(root: unknown, path: string): unknown {
  let v = root;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Array.isArray(v) ? v[Number(key)] : (v as Record<string, unknown>)[key];
  }
  return v;
}

/** A sample value of a JSON value: numbers and booleans; undefined for anything else. */
export function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

/** Every number and boolean under `v`, by its path joined with `_`. */
export function leaves(v: unknown, prefix: string, out: Array<[string, number]>, depth = 0): void {
  if (depth > 16) return;
  const n = numeric(v);
  if (n !== undefined) {
    if (prefix !== '') out.push([prefix, n]);
    return;
  }
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return;
  const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v as Record<string, unknown>);
  for (const [k, x] of entries) leaves(x, prefix === '' ? k : `${prefix}_${k}`, out, depth + 1);
}

/** Unix ms of a time value in `unit`; throws DecodeError when it is not one. */
export function toMs(v: unknown, unit: TimeUnit, path: string): number {
  if (unit === 'iso') {
    const ms = typeof v === 'string' ? Date.parse(v) : Number.NaN;
    if (!Number.isFinite(ms)) throw new DecodeError(`time ${path}: not an RFC 3339 time (${JSON.stringify(v)?.slice(0, 40)})`);
    return ms;
  }
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new DecodeError(`time ${path}: not a number (${JSON.stringify(typeof v === 'bigint' ? String(v) : v)?.slice(0, 40)})`);
  const ms = unit === 's' ? n * 1000 : unit === 'ms' ? n : unit === 'us' ? n / 1000 : n / 1e6;
  return Math.round(ms);
}

/** Maps records (decoded JSON or msgpack) by the rules. */
export class RecordMapper {
  private readonly measurement: string;
  private readonly fields: Array<[string, string]> | undefined;
  private readonly tags: Array<[string, string]>;

  constructor(private readonly m: RecordMapping) {
    this.measurement = m.measurement ?? 'mqtt';
    this.fields = m.fields === undefined ? undefined : Object.entries(m.fields);
    this.tags = Object.entries(m.tags ?? {}).map(([k, p]) => [labelName(k), p]);
  }

  map(doc: unknown, captures: Readonly<Record<string, string>>, receivedMs: number, emit: Emit): void {
    const records = Array.isArray(doc) ? doc : [doc];
    if (records.length === 0) return;
    for (const r of records) {
      if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new DecodeError(`expected an object or an array of objects, got ${r === null ? 'null' : Array.isArray(r) ? 'an array' : typeof r}`);
      this.record(r, captures, receivedMs, emit);
    }
  }

  private record(r: object, captures: Readonly<Record<string, string>>, receivedMs: number, emit: Emit): void {
    const ts = this.m.time === undefined ? receivedMs : toMs(at(r, this.m.time.path), this.m.time.unit, this.m.time.path);
    const base: Record<string, string> = { ...captures };
    for (const [label, path] of this.tags) {
      const v = at(r, path);
      if (v === undefined || v === null || typeof v === 'object') continue;
      const s = String(v);
      if (s !== '') base[label] = s;
    }
    const prefix = metricName(fill(this.measurement, captures));
    const pairs: Array<[string, number]> = [];
    if (this.fields === undefined) leaves(r, '', pairs);
    else
      for (const [name, path] of this.fields) {
        const v = numeric(at(r, path));
        if (v !== undefined) pairs.push([name, v]);
      }
    for (const [field, value] of pairs) {
      if (this.m.time !== undefined && field === this.m.time.path.replaceAll('.', '_')) continue; // the time is not a field
      emit({ __name__: `${prefix}_${metricName(field)}`, ...base }, ts, value);
    }
  }
}

/** JSON or msgpack records, mapped by the rules. */
export class RecordDecoder implements Decoder {
  private readonly mapper: RecordMapper;
  constructor(
    m: RecordMapping,
    private readonly format: 'json' | 'msgpack',
  ) {
    this.mapper = new RecordMapper(m);
  }
  decode(_topic: string, payload: Buffer, captures: Readonly<Record<string, string>>, receivedMs: number, emit: Emit): void {
    let doc: unknown;
    try {
      doc = this.format === 'json' ? JSON.parse(payload.toString('utf8')) : unpack(payload);
    } catch (err) {
      throw new DecodeError(`not ${this.format === 'json' ? 'JSON' : 'msgpack'}: ${(err as Error).message}`);
    }
    this.mapper.map(doc, captures, receivedMs, emit);
  }
}

const WORDS: Record<string, number> = { true: 1, false: 0, on: 1, off: 0 };

export class ValueDecoder implements Decoder {
  constructor(private readonly measurement = 'mqtt') {}
  decode(_topic: string, payload: Buffer, captures: Readonly<Record<string, string>>, receivedMs: number, emit: Emit): void {
    const text = payload.toString('utf8').trim();
    const word = WORDS[text.toLowerCase()];
    const value = word ?? (text === '' ? Number.NaN : Number(text));
    if (!Number.isFinite(value)) throw new DecodeError(`not a number: ${JSON.stringify(text.slice(0, 40))}`);
    emit({ __name__: metricName(fill(this.measurement, captures)), ...captures }, receivedMs, value);
  }
}
