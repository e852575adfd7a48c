// Number and time formatting, and a shared one-second clock for "ago" texts
// and staleness checks.

import { createRoot, createSignal } from 'solid-js';

const [now, setNow] = createRoot(() => createSignal(Date.now()));
setInterval(() => setNow(Date.now()), 1000);
/** Date.now(), updated every second (reactive). */
export { now };

/**
 * A measured quantity (a rate, a value): the decimals depend on the
 * magnitude only, never on whether this reading happens to be whole, so a
 * live number does not flip between "12.0" and "12" as it updates.
 */
export function fmtNum(v: number, digits = 1): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(digits)} G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(digits)} M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(digits)} k`;
  if (a >= 100) return v.toFixed(0);
  if (a === 0) return (0).toFixed(digits);
  return v.toFixed(a >= 1 ? digits : Math.max(3, digits));
}

/** A count (samples, batches, devices): whole, with k/M/G above ten thousand. */
export function fmtCount(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e4 ? fmtNum(v) : Math.round(v).toFixed(0);
}

export function fmtBytes(v: number): string {
  if (v >= 1 << 30) return `${(v / (1 << 30)).toFixed(1)} GiB`;
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)} KiB`;
  return `${v} B`;
}

export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** "12 s ago" relative to the shared clock (reactive). */
export function ago(iso: string | null | undefined): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${fmtDuration((now() - t) / 1000)} ago`;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function labelText(labels: Record<string, string>): string {
  const name = labels.__name__ ?? '';
  const rest = Object.keys(labels)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}="${labels[k]}"`)
    .join(', ');
  return rest ? `${name}{${rest}}` : name || '{}';
}
