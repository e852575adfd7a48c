// The explorer's query: a metric, label matchers, a range and a step; kept
// in the URL (?metric=&f=host%3Da1&range=1h&step=10s&paused=1) so a view can
// be shared.

export type Op = '=' | '!=' | '=~' | '!~';
export const OPS: Op[] = ['=', '!=', '=~', '!~'];

export interface Filter {
  name: string;
  op: Op;
  value: string;
}

export const RANGES: Array<{ value: string; label: string; ms: number }> = [
  { value: '5m', label: 'Last 5 minutes', ms: 5 * 60_000 },
  { value: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'Last hour', ms: 3_600_000 },
  { value: '3h', label: 'Last 3 hours', ms: 3 * 3_600_000 },
  { value: '6h', label: 'Last 6 hours', ms: 6 * 3_600_000 },
  { value: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
];
export const DEFAULT_RANGE = '15m';

const NICE_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].map((s) => s * 1000);
/** Most grid points per series (the API answers up to 11,000). */
export const MAX_POINTS = 11_000;

export function rangeMs(range: string): number {
  return (RANGES.find((r) => r.value === range) ?? RANGES.find((r) => r.value === DEFAULT_RANGE)!).ms;
}

/** The step used when none is given: about 300 points over the range. */
export function autoStepMs(range: number): number {
  return NICE_STEPS_MS.find((s) => range / s <= 300) ?? NICE_STEPS_MS[NICE_STEPS_MS.length - 1]!;
}

/** "10s", "1m", "500ms", "1.5" (seconds) → ms; NaN if not a duration. */
export function parseStep(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) return NaN;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return Math.round(Number(m[1]) * unit[m[2] ?? 's']!);
}

export function fmtStep(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Checks a step for a range; a message when it is not usable. */
export function stepProblem(stepMs: number, range: number): string | null {
  if (!Number.isFinite(stepMs) || stepMs <= 0) return 'Step: a duration such as 10s, 1m or 500ms.';
  if (stepMs < 100) return 'Step: at least 100ms (live values arrive at most 10 times a second).';
  if (range / stepMs > MAX_POINTS) return `Step too small: more than ${MAX_POINTS} points over this range.`;
  return null;
}

function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function selector(metric: string, filters: Filter[]): string {
  const m = filters.filter((f) => f.name !== '' && !(f.value === '' && (f.op === '=~' || f.op === '!~'))).map((f) => `${f.name}${f.op}${quote(f.value)}`);
  const name = /^[A-Za-z_:][A-Za-z0-9_:]*$/.test(metric) ? metric : '';
  if (name === '') m.unshift(`__name__=${quote(metric)}`);
  return `${name}{${m.join(',')}}`;
}

export function encodeFilter(f: Filter): string {
  return `${f.name}${f.op}${f.value}`;
}

export function decodeFilter(s: string): Filter | null {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)([\s\S]*)$/.exec(s);
  return m ? { name: m[1]!, op: m[2] as Op, value: m[3]! } : null;
}
