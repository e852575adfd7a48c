// Conversions between a connector's config (JSON, as the API has it) and
// the text its form inputs hold. What an input cannot say is kept as it
// was: unknown keys stay in `rest` and go back unchanged.

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
export const obj = (v: unknown): Obj => (isObj(v) ? v : {});

/** A config value as an input's text: '' when absent. */
export const str = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** The keys of `o` other than `keys`. */
export function without(o: Obj, keys: readonly string[]): Obj {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

/** Sets `key` when `value` is neither undefined nor '' (an optional setting left empty is not sent). */
export function put(o: Obj, key: string, value: unknown): void {
  if (value !== undefined && value !== '') o[key] = value;
}

/** A number input's text as the API expects it: omitted when empty, the text itself when it is no number (the API then says why). */
export function numberOrText(text: string): number | string | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

/** A boolean setting with a default, in a select: '' (the default), 'true' or 'false'. */
export type TriState = '' | 'true' | 'false';
export const triState = (v: unknown): TriState => (v === true ? 'true' : v === false ? 'false' : '');
export const fromTriState = (t: TriState): boolean | undefined => (t === '' ? undefined : t === 'true');
/** The choices of a TriState select whose default is true. */
export const yesByDefault = (no: string): ReadonlyArray<{ value: TriState; label: string }> => [
  { value: '', label: 'Yes (default)' },
  { value: 'true', label: 'Yes' },
  { value: 'false', label: no },
];

export interface Pair {
  key: string;
  value: string;
}
/** Pair rows as an object (rows with an empty name left out); undefined when none. */
export function pairsToObject(rows: readonly Pair[]): Record<string, string> | undefined {
  const used = rows.filter((r) => r.key.trim() !== '');
  return used.length === 0 ? undefined : Object.fromEntries(used.map((r) => [r.key.trim(), r.value.trim()]));
}
export const objectToPairs = (o: unknown): Pair[] => Object.entries(obj(o)).map(([key, value]) => ({ key, value: str(value) }));

/** A list of strings edited one per line (entity globs, domains). */
export function linesToList(text: string): string[] | undefined {
  const list = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return list.length === 0 ? undefined : list;
}
export const listToLines = (v: unknown): string => (Array.isArray(v) ? v.map(str).join('\n') : '');
