// Home Assistant states as samples. A state object (of GET /api/states, or
// the new_state of a state_changed event) is
//   {entity_id, state, attributes, last_changed, last_updated, ...}
// and becomes:
//
// - `homeassistant_<domain>` with the state's value: a number (`21.5`),
//   or 1/0 for `on`/`off` and `true`/`false` (binary_sensor, switch, light,
//   input_boolean). `unavailable` and `unknown` are counted, never written;
//   any other text (`heat`, `home`, `open`) is not a sample and is ignored.
// - `homeassistant_<domain>_<attribute>` for each attribute that is a JSON
//   number (not a boolean, text or object), the name made of [A-Za-z0-9_];
//   `supported_features` (a bit mask, not a quantity) is left out. These
//   come even when the state itself is text (a climate's `heat` has its
//   `current_temperature`) but not when it is unavailable.
// - Labels: entity_id, domain, friendly_name, unit_of_measurement,
//   device_class and area (its name: the entity's area, else its device's),
//   each left out when it has no value. The unit is a label, never part of
//   the name. The connector label comes from the batcher's principal.
// - Timestamp: the state's last_updated (ms).
//
// A state object that is not one (no entity_id, no state, a bad timestamp)
// throws a DecodeError: the connector counts it as unparseable.

import { domainOf } from './filter.js';

export class DecodeError extends Error {}

/** Receives one sample; `key` identifies the series (the same labels give the same key), `labels` is not modified afterwards. */
export type Emit = (key: string, labels: Readonly<Record<string, string>>, timestampMs: number, value: number) => void;

/** What became of a state. */
export type Outcome = 'written' | 'unavailable' | 'ignored';

export interface HaState {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
  last_updated: string;
}

const WORDS: Readonly<Record<string, number>> = { on: 1, off: 0, true: 1, false: 0 };
const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const SKIPPED_ATTRIBUTES: ReadonlySet<string> = new Set(['supported_features']);
const BAD_NAME_CHAR = /[^A-Za-z0-9_]/g;

/** The sample value of a state's text: a number, 'unavailable' (unavailable, unknown), or undefined (text that is no value). */
export function stateValue(state: string): number | 'unavailable' | undefined {
  if (state === 'unavailable' || state === 'unknown') return 'unavailable';
  const lower = state.length <= 5 ? state.toLowerCase() : state;
  const word = WORDS[lower];
  if (word !== undefined) return word;
  if (!NUMBER.test(state)) return undefined;
  const n = Number(state);
  return Number.isFinite(n) ? n : undefined;
}

/** A name part of [A-Za-z0-9_]. */
export function sanitize(s: string): string {
  return s.replace(BAD_NAME_CHAR, '_');
}

/** The state's last_updated in Unix ms; throws DecodeError when it is not a time. */
export function stateTime(state: HaState): number {
  const ts = Date.parse(state.last_updated);
  if (!Number.isFinite(ts)) throw new DecodeError(`${state.entity_id}: last_updated is not a time (${JSON.stringify(state.last_updated.slice(0, 40))})`);
  return ts;
}

/** A checked state object, or a DecodeError saying what is wrong with it. */
export function asState(v: unknown): HaState {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new DecodeError(`a state is an object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  const s = v as Record<string, unknown>;
  if (typeof s.entity_id !== 'string' || domainOf(s.entity_id) === '') throw new DecodeError(`a state without a valid entity_id (${JSON.stringify(s.entity_id)?.slice(0, 80)})`);
  if (typeof s.state !== 'string') throw new DecodeError(`${s.entity_id}: state is not text`);
  if (typeof s.last_updated !== 'string') throw new DecodeError(`${s.entity_id}: no last_updated`);
  const attributes = s.attributes !== null && typeof s.attributes === 'object' && !Array.isArray(s.attributes) ? (s.attributes as Record<string, unknown>) : {};
  return { entity_id: s.entity_id, state: s.state, attributes, last_updated: s.last_updated };
}

/** The label set of one entity as last seen, and its series' names, keys and labels. */
interface EntitySeries {
  signature: string;
  base: Readonly<Record<string, string>>;
  byName: Map<string, { key: string; labels: Readonly<Record<string, string>> }>;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

export interface StateMapperOptions {
  /** Whether numeric attributes become samples (default true). */
  attributes?: boolean;
  /** The area name of an entity, if it has one. */
  area: (entityId: string) => string | undefined;
}

/** Cached label sets beyond this many entities are dropped (and rebuilt as needed). */
const MAX_CACHED = 100_000;

/**
 * Maps states to samples. Label sets are kept per entity and reused while its
 * friendly_name, unit, device_class and area stay the same: an event costs
 * no new label objects.
 */
export class StateMapper {
  private readonly entities = new Map<string, EntitySeries>();
  private readonly attributes: boolean;

  constructor(private readonly o: StateMapperOptions) {
    this.attributes = o.attributes ?? true;
  }

  /** Writes the samples of `state` (checked with asState), stamped `ts` (its stateTime). */
  map(state: HaState, ts: number, emit: Emit): Outcome {
    const value = stateValue(state.state);
    if (value === 'unavailable') return 'unavailable';
    const series = this.series(state);
    const domain = series.base.domain!;
    let wrote = false;
    if (value !== undefined) {
      const s = this.named(series, `homeassistant_${domain}`);
      emit(s.key, s.labels, ts, value);
      wrote = true;
    }
    if (this.attributes) {
      for (const name in state.attributes) {
        const v = state.attributes[name];
        if (typeof v !== 'number' || !Number.isFinite(v) || SKIPPED_ATTRIBUTES.has(name)) continue;
        const s = this.named(series, `homeassistant_${domain}_${sanitize(name)}`);
        emit(s.key, s.labels, ts, v);
        wrote = true;
      }
    }
    return wrote ? 'written' : 'ignored';
  }

  /** Forgets every label set (areas changed). */
  forget(): void {
    this.entities.clear();
  }

  private series(state: HaState): EntitySeries {
    const a = state.attributes;
    const friendly = text(a.friendly_name);
    const unit = text(a.unit_of_measurement);
    const deviceClass = text(a.device_class);
    const area = this.o.area(state.entity_id);
    const signature = `${friendly ?? ''}\u0000${unit ?? ''}\u0000${deviceClass ?? ''}\u0000${area ?? ''}`;
    const known = this.entities.get(state.entity_id);
    if (known !== undefined && known.signature === signature) return known;
    const base: Record<string, string> = { entity_id: state.entity_id, domain: sanitize(domainOf(state.entity_id)) };
    if (friendly !== undefined) base.friendly_name = friendly;
    if (unit !== undefined) base.unit_of_measurement = unit;
    if (deviceClass !== undefined) base.device_class = deviceClass;
    if (area !== undefined && area !== '') base.area = area;
    const s: EntitySeries = { signature, base, byName: new Map() };
    if (known === undefined && this.entities.size >= MAX_CACHED) this.entities.clear();
    this.entities.set(state.entity_id, s);
    return s;
  }

  private named(series: EntitySeries, name: string): { key: string; labels: Readonly<Record<string, string>> } {
    let s = series.byName.get(name);
    if (s === undefined) {
      s = { key: `${name}\u0000${series.base.entity_id}\u0000${series.signature}`, labels: { __name__: name, ...series.base } };
      series.byName.set(name, s);
    }
    return s;
  }
}
