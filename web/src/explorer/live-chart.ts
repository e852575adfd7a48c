// The explorer's chart: uPlot on a canvas, fed from preallocated typed
// arrays so live points cost no allocation and no copy per message.
//
// Data model: one shared time grid of `step` (what /api/query/range answers
// on). A live point lands in the grid slot at or after its timestamp,
// latest wins: the same value a range query at that step would give a
// plain selector (the last sample in (t - step, t]). The window holds the
// grid points of the chosen range; columns are Float64Arrays of twice that
// size, and the visible part is a subarray view [start, end). Appending
// past the end copies the window back to the front (copyWithin), once
// every `window` appends. Missing values are NaN: the scales are computed
// here (uPlot's skip only null), and canvas ignores NaN coordinates.
//
// Anomaly overlay (setOverlay): score series (sentio_anomaly_score, 0–1)
// on the same grid, drawn dashed on a second axis at the right, and the
// stretches where any of them is at or above a threshold shaded behind the
// lines. Score columns move with the window like the others; they come from
// a range query (not from /live), so they are as fresh as the last load.
//
// Redraws are batched: push() only marks the chart dirty; one
// requestAnimationFrame callback redraws at most once per frame.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmtNum } from '../lib/format';
import type { Labels } from '../lib/types';

export const MAX_SERIES = 200;

export interface ChartSeries {
  key: string;
  labels: Labels;
  color: string;
  shown: boolean;
}

export interface PerfLog {
  /** ms between consecutive animation frames while live (16.7 at 60 Hz when none is dropped). */
  frames: number[];
  /** ms of main-thread work in each frame that redrew the chart (data, scales, uPlot's canvas drawing). */
  work: number[];
  draws: Array<{ ts: number; drawnAt: number }>;
}
const PERF_CAP = 20_000;

function capPush<T>(arr: T[], v: T): void {
  arr.push(v);
  if (arr.length > PERF_CAP + 1000) arr.splice(0, arr.length - PERF_CAP);
}

export function seriesKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');
}

function color(i: number): string {
  return `hsl(${Math.round((i * 137.508 + 200) % 360)} 70% 58%)`;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/**
 * Missing values are NaN here, which uPlot does not see as gaps (only null):
 * the canvas skips a NaN vertex and joins the points around it. This marks
 * each run of NaN as a gap, from the point before it to the point after it
 * (canvas pixels, as uPlot's own null gaps), so a stretch without data is
 * drawn as nothing, not as a straight line across it.
 */
function nanGaps(u: uPlot, seriesIdx: number, idx0: number, idx1: number, gaps: uPlot.Series.Gaps): uPlot.Series.Gaps {
  const xs = u.data[0] as ArrayLike<number>;
  const ys = u.data[seriesIdx] as ArrayLike<number>;
  for (let i = idx0; i <= idx1; i++) {
    if (!Number.isNaN(ys[i]!)) continue;
    let j = i;
    while (j < idx1 && Number.isNaN(ys[j + 1]!)) j++;
    gaps.push([u.valToPos(xs[Math.max(idx0, i - 1)]!, 'x', true), u.valToPos(xs[Math.min(idx1, j + 1)]!, 'x', true)]);
    i = j;
  }
  return gaps;
}

export interface ChartEvents {
  /** Values under the cursor (null when it is outside), at the slot's time. */
  onCursor(values: Array<number | null> | null, timeMs: number | null): void;
  /** After each redraw. */
  onDraw(info: { points: number; series: number }): void;
  /** New series, or a series shown/hidden. */
  onSeries(series: ChartSeries[]): void;
  /** The user zoomed in (drag) or reset the zoom. */
  onZoom(zoomed: boolean): void;
}

export class LiveChart {
  private u: uPlot | null = null;
  private stepMs = 1000;
  private rangeMs = 3_600_000;
  private win = 1; // grid points in the window
  private size = 2;
  private xs = new Float64Array(2);
  private cols: Float64Array[] = [];
  /** Anomaly score columns (overlay), same layout as cols. */
  private scoreCols: Float64Array[] = [];
  private scoreLabels: Labels[] = [];
  private scoreThreshold = 0.8;
  private start = 0;
  private end = 0;
  private lastMs = 0; // grid time of slot end - 1
  private points = 0; // finite values in [start, end)
  private readonly series: ChartSeries[] = [];
  private readonly colOf = new Map<string, number>();
  private readonly refCol = new Map<number, number>();
  private dirty = false;
  /** Series were added since the last draw: uPlot is rebuilt (cheaper to reason about than addSeries mid-stream). */
  private seriesChanged = false;
  private raf = 0;
  private zoomed = false;
  private cursorIdx: number | null = null;
  private pendingTs: number[] = [];
  private lastFrameAt = 0;
  private resizeObserver: ResizeObserver;
  /** Series beyond MAX_SERIES that were not added. */
  dropped = 0;

  constructor(
    private readonly el: HTMLElement,
    private readonly events: ChartEvents,
    private readonly perf: PerfLog | null,
    /** Labels of a ref first seen by the connection before this chart (re)loaded. */
    private readonly lookup: (ref: number) => Labels | undefined,
    /** The y axis's unit (its values are formatted with fmtNum and it), and the chart's height bounds (px). */
    private readonly display: { unit?: string; minHeight?: number; maxHeight?: number } = {},
  ) {
    this.resizeObserver = new ResizeObserver(() => {
      if (this.u) this.u.setSize(this.dims());
    });
    this.resizeObserver.observe(el);
  }

  private dims(): { width: number; height: number } {
    const width = Math.max(200, this.el.clientWidth);
    return { width, height: Math.max(this.display.minHeight ?? 220, Math.min(this.display.maxHeight ?? 480, Math.round(width * 0.45))) };
  }

  /** Starts over with a new grid and the range query's answer. */
  load(o: { stepMs: number; rangeMs: number; endMs: number; result: Array<{ metric: Labels; values: Array<[number, string]> }> }): void {
    this.stepMs = o.stepMs;
    this.rangeMs = o.rangeMs;
    this.win = Math.max(2, Math.floor(o.rangeMs / o.stepMs) + 1);
    this.size = this.win * 2;
    this.xs = new Float64Array(this.size);
    this.cols = [];
    this.scoreCols = [];
    this.scoreLabels = [];
    this.series.length = 0;
    this.colOf.clear();
    this.refCol.clear();
    this.dropped = 0;
    this.points = 0;
    this.zoomed = false;
    this.start = 0;
    this.end = this.win;
    this.lastMs = o.endMs;
    const firstMs = o.endMs - (this.win - 1) * o.stepMs;
    for (let i = 0; i < this.win; i++) this.xs[i] = (firstMs + i * o.stepMs) / 1000;
    for (const s of o.result) {
      const col = this.column(s.metric);
      if (col < 0) continue;
      const ys = this.cols[col]!;
      for (const [t, v] of s.values) {
        const idx = Math.round((t * 1000 - firstMs) / o.stepMs);
        if (idx < 0 || idx >= this.win) continue;
        if (Number.isNaN(ys[idx]!)) this.points++;
        ys[idx] = Number(v);
      }
    }
    this.seriesChanged = false;
    this.events.onSeries(this.series.slice());
    this.events.onZoom(false);
    this.rebuild();
  }

  /** The column of a label set, adding it (NaN-filled) if new; -1 past MAX_SERIES. */
  private column(labels: Labels): number {
    const key = seriesKey(labels);
    const have = this.colOf.get(key);
    if (have !== undefined) return have;
    if (this.series.length >= MAX_SERIES) {
      this.dropped++;
      return -1;
    }
    const col = this.series.length;
    this.series.push({ key, labels, color: color(col), shown: true });
    this.cols.push(new Float64Array(this.size).fill(NaN));
    this.colOf.set(key, col);
    this.seriesChanged = true;
    return col;
  }

  /** A live point. `labels` when the frame carried them (first sight of the ref, snapshots). */
  push(ref: number, labels: Labels | undefined, tsMs: number, value: number): void {
    let col = labels ? undefined : this.refCol.get(ref);
    if (col === undefined) {
      const l = labels ?? this.lookup(ref);
      if (!l) return;
      col = this.column(l);
      this.refCol.set(ref, col);
    }
    if (col < 0) return;
    const slotMs = Math.ceil(tsMs / this.stepMs) * this.stepMs;
    if (slotMs > this.lastMs) this.advance(slotMs);
    const idx = this.end - 1 - Math.round((this.lastMs - slotMs) / this.stepMs);
    if (idx < this.start) return; // older than the window
    const ys = this.cols[col]!;
    if (Number.isNaN(ys[idx]!)) this.points++;
    ys[idx] = value;
    if (this.perf) this.pendingTs.push(tsMs);
    this.markDirty();
  }

  /** Opens grid slots up to slotMs, dropping the oldest beyond the window. */
  private advance(slotMs: number): void {
    const k = Math.round((slotMs - this.lastMs) / this.stepMs);
    if (k >= this.win) {
      // a jump past the whole window: start empty
      for (const ys of this.cols) ys.fill(NaN);
      for (const ys of this.scoreCols) ys.fill(NaN);
      this.points = 0;
      this.start = 0;
      this.end = this.win;
      const first = slotMs - (this.win - 1) * this.stepMs;
      for (let i = 0; i < this.win; i++) this.xs[i] = (first + i * this.stepMs) / 1000;
      this.lastMs = slotMs;
      return;
    }
    for (let j = 1; j <= k; j++) {
      if (this.end === this.size) this.compact();
      this.xs[this.end] = (this.lastMs + j * this.stepMs) / 1000;
      for (const ys of this.cols) ys[this.end] = NaN;
      for (const ys of this.scoreCols) ys[this.end] = NaN;
      this.end++;
      if (this.end - this.start > this.win) {
        for (const ys of this.cols) if (!Number.isNaN(ys[this.start]!)) this.points--;
        this.start++;
      }
    }
    this.lastMs = slotMs;
  }

  private compact(): void {
    const n = this.end - this.start;
    this.xs.copyWithin(0, this.start, this.end);
    for (const ys of this.cols) ys.copyWithin(0, this.start, this.end);
    for (const ys of this.scoreCols) ys.copyWithin(0, this.start, this.end);
    this.start = 0;
    this.end = n;
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.raf === 0) this.raf = requestAnimationFrame(this.frame);
  }

  /** Keeps a requestAnimationFrame loop running (for the perf log's frame times) until stopped. */
  private looping = false;
  setLooping(on: boolean): void {
    this.looping = on;
    this.lastFrameAt = 0;
    if (on && this.raf === 0) this.raf = requestAnimationFrame(this.frame);
  }

  private readonly frame = (at: number): void => {
    this.raf = 0;
    if (this.perf && this.looping) {
      if (this.lastFrameAt !== 0) capPush(this.perf.frames, at - this.lastFrameAt);
      this.lastFrameAt = at;
    }
    if (this.dirty) {
      const t0 = performance.now();
      this.draw();
      if (this.perf) capPush(this.perf.work, performance.now() - t0);
    }
    if (this.looping) this.raf = requestAnimationFrame(this.frame);
  };

  /** Visible data as views on the buffers (no copy). */
  private data(): uPlot.AlignedData {
    return [this.xs.subarray(this.start, this.end), ...this.cols.map((c) => c.subarray(this.start, this.end)), ...this.scoreCols.map((c) => c.subarray(this.start, this.end))];
  }

  /**
   * Overlays anomaly scores (a range query's answer at the chart's step) and
   * shades the stretches where any score is >= threshold; null removes it.
   * Returns the number of shaded stretches in the window.
   */
  setOverlay(o: { threshold: number; result: Array<{ metric: Labels; values: Array<[number, string]> }> } | null): number {
    this.scoreCols = [];
    this.scoreLabels = [];
    if (o) {
      this.scoreThreshold = o.threshold;
      for (const s of o.result.slice(0, MAX_SERIES)) {
        const ys = new Float64Array(this.size).fill(NaN);
        for (const [t, v] of s.values) {
          const slotMs = Math.ceil((t * 1000) / this.stepMs) * this.stepMs;
          const idx = this.end - 1 - Math.round((this.lastMs - slotMs) / this.stepMs);
          if (idx < this.start || idx >= this.end) continue;
          ys[idx] = Number(v);
        }
        this.scoreCols.push(ys);
        this.scoreLabels.push(s.metric);
      }
    }
    this.rebuild();
    return this.anomalyBands().length;
  }

  /** Stretches [fromSec, toSec] of the window where any score is >= the threshold. */
  anomalyBands(): Array<[number, number]> {
    const bands: Array<[number, number]> = [];
    if (this.scoreCols.length === 0) return bands;
    let from = -1;
    for (let i = this.start; i <= this.end; i++) {
      let hit = false;
      if (i < this.end) for (const ys of this.scoreCols) if (ys[i]! >= this.scoreThreshold) hit = true;
      if (hit && from < 0) from = i;
      if (!hit && from >= 0) {
        bands.push([this.xs[from]! - this.stepMs / 2000, this.xs[i - 1]! + this.stepMs / 2000]);
        from = -1;
      }
    }
    return bands;
  }

  private drawBands(u: uPlot): void {
    const bands = this.anomalyBands();
    if (bands.length === 0) return;
    const { ctx } = u;
    const { top, height, left, width } = u.bbox;
    ctx.save();
    ctx.globalCompositeOperation = 'destination-over';
    ctx.fillStyle = cssVar('--anomaly-band');
    for (const [a, b] of bands) {
      const x0 = Math.max(left, u.valToPos(a, 'x', true));
      const x1 = Math.min(left + width, u.valToPos(b, 'x', true));
      if (x1 > x0) ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
    }
    ctx.restore();
  }

  private yRange(minX: number, maxX: number): { min: number; max: number } {
    let lo = Infinity;
    let hi = -Infinity;
    // the slots within [minX, maxX] (xs is sorted)
    let i0 = this.start;
    while (i0 < this.end && this.xs[i0]! < minX) i0++;
    let i1 = this.end - 1;
    while (i1 >= i0 && this.xs[i1]! > maxX) i1--;
    for (let c = 0; c < this.cols.length; c++) {
      if (!this.series[c]!.shown) continue;
      const ys = this.cols[c]!;
      for (let i = i0; i <= i1; i++) {
        const v = ys[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { min: 0, max: 1 };
    if (lo === hi) {
      const pad = Math.abs(lo) * 0.1 || 1;
      return { min: lo - pad, max: hi + pad };
    }
    const pad = (hi - lo) * 0.05;
    return { min: lo - pad, max: hi + pad };
  }

  draw(): void {
    this.dirty = false;
    if (this.seriesChanged) {
      this.seriesChanged = false;
      this.events.onSeries(this.series.slice());
      this.rebuild(); // draws
      return;
    }
    const u = this.u;
    if (!u) return;
    const maxX = this.lastMs / 1000;
    const minX = maxX - this.rangeMs / 1000;
    u.batch(() => {
      u.setData(this.data(), false);
      const x = this.zoomed ? { min: u.scales.x!.min!, max: u.scales.x!.max! } : { min: minX, max: maxX };
      u.setScale('x', x);
      u.setScale('y', this.yRange(x.min, x.max));
      if (this.scoreCols.length > 0) u.setScale('score', { min: 0, max: 1 });
    });
    if (this.perf && this.pendingTs.length > 0) {
      const drawnAt = Date.now();
      for (const ts of this.pendingTs) capPush(this.perf.draws, { ts, drawnAt });
      this.pendingTs.length = 0;
    }
    if (this.cursorIdx !== null) this.reportCursor();
    this.events.onDraw({ points: this.points, series: this.series.length });
  }

  private reportCursor(): void {
    const idx = this.cursorIdx;
    if (idx === null || this.start + idx >= this.end) {
      this.events.onCursor(null, null);
      return;
    }
    const at = this.start + idx;
    this.events.onCursor(
      this.cols.map((ys) => (Number.isNaN(ys[at]!) ? null : ys[at]!)),
      this.xs[at]! * 1000,
    );
  }

  private seriesOpts(col: number): uPlot.Series {
    const s = this.series[col]!;
    return { label: s.key, stroke: s.color, width: 1.5, show: s.shown, points: { show: false }, gaps: nanGaps };
  }

  /** (Re)creates the uPlot instance, e.g. for new data or a theme change. */
  rebuild(): void {
    this.u?.destroy();
    this.cursorIdx = null;
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--border'), width: 1 }, ticks: { stroke: cssVar('--border'), width: 1 } };
    const opts: uPlot.Options = {
      ...this.dims(),
      scales: { x: { time: true, auto: false }, y: { auto: false }, score: { auto: false, range: [0, 1] } },
      series: [
        {},
        ...this.series.map((_, i) => this.seriesOpts(i)),
        ...this.scoreLabels.map((l): uPlot.Series => ({ label: `score ${seriesKey(l)}`, scale: 'score', stroke: cssVar('--anomaly'), width: 1, dash: [4, 3], points: { show: false }, gaps: nanGaps })),
      ],
      axes: [
        axis,
        this.display.unit === undefined
          ? { ...axis, size: 60 }
          : { ...axis, size: 78, label: this.display.unit, labelSize: 18, values: (_u, splits) => splits.map((v) => fmtNum(v)) },
        ...(this.scoreCols.length > 0 ? [{ ...axis, scale: 'score', side: 1, size: 44, grid: { show: false }, label: 'score', labelSize: 16, splits: () => [0, 0.25, 0.5, 0.75, 1] }] : []),
      ],
      legend: { show: false },
      cursor: {
        drag: { x: true, y: false, setScale: true },
        points: { show: false },
        bind: {
          dblclick: () => () => {
            this.resetZoom();
            return null;
          },
        },
      },
      hooks: {
        draw: [(u) => this.drawBands(u)],
        setSelect: [
          (u) => {
            if (u.select.width > 0) {
              this.zoomed = true;
              this.events.onZoom(true);
              this.markDirty();
            }
          },
        ],
        setCursor: [
          (u) => {
            this.cursorIdx = u.cursor.idx ?? null;
            this.reportCursor();
          },
        ],
      },
    };
    this.u = new uPlot(opts, this.data(), this.el);
    this.draw();
  }

  resetZoom(): void {
    this.zoomed = false;
    this.events.onZoom(false);
    this.markDirty();
  }

  setShown(col: number, shown: boolean): void {
    const s = this.series[col];
    if (!s) return;
    s.shown = shown;
    this.u?.setSeries(col + 1, { show: shown });
    this.events.onSeries(this.series.slice());
    this.markDirty();
  }

  destroy(): void {
    cancelAnimationFrame(this.raf);
    this.raf = 0;
    this.looping = false;
    this.resizeObserver.disconnect();
    this.u?.destroy();
    this.u = null;
  }
}
