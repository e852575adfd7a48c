// Result shaping shared by the query engines: values and series order as
// VictoriaMetrics writes them, and the output labels of an aggregation.

import type { Labels } from './types.js';

/** Go's strconv.FormatFloat(v, 'f', -1, 64), as VictoriaMetrics writes values; NaN and ±Inf as Prometheus does. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return '0';
  const s = String(v);
  const e = s.indexOf('e');
  if (e < 0) return s;
  // Shortest round-trip digits in exponent form: write them out in fixed notation.
  const neg = s[0] === '-';
  const mant = s.slice(neg ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const digits = mant.replace('.', '');
  const point = (mant.indexOf('.') < 0 ? mant.length : mant.indexOf('.')) + exp;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return neg ? `-${out}` : out;
}

/** The order VictoriaMetrics gives results: by metric name, then by the label pairs sorted by name. */
export function compareLabels(a: Labels, b: Labels): number {
  const ka = sortKey(a);
  const kb = sortKey(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
  }
  return ka.length - kb.length;
}

function sortKey(l: Labels): string[] {
  const out = [l['__name__'] ?? ''];
  for (const k of Object.keys(l).filter((k) => k !== '__name__').sort()) out.push(k, l[k]!);
  return out;
}

/** A canonical, comparable key of a label set. */
export function labelsKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The labels of an aggregation's output series for one input series: the
 * `by` labels it has (non-empty), or all but the `without` labels and
 * `__name__`; `{}` with neither.
 */
export function groupLabels(agg: { by?: string[]; without?: string[] }, labels: Labels): Labels {
  if (agg.without) {
    const out: Labels = { ...labels };
    delete out['__name__'];
    for (const l of agg.without) delete out[l];
    return out;
  }
  const out: Labels = {};
  for (const l of agg.by ?? []) if (labels[l] !== undefined && labels[l] !== '') out[l] = labels[l]!;
  return out;
}
