// Explorer: a metric and label matchers, a range and a step. History comes
// from GET /api/query/range; the chart then follows the same selector on
// /live. The query lives in the URL. With ?perf=1, frame times and
// point-to-screen latencies are recorded in window.__sentioPerf.
// Anomaly overlay: the charted series' sentio_anomaly_score{metric=<name>,
// model=<picked>, <same matchers>} on a 0–1 axis, stretches at or above the
// threshold shaded (from the range query at load: refreshed on each load,
// not streamed); the trend panel asks GET /api/series/trend.

import { useSearchParams } from '@solidjs/router';
import { createEffect, createMemo, createResource, createSignal, For, Index, on, onCleanup, onMount, Show, type JSX } from 'solid-js';
import { ErrorBanner } from '../components/ui';
import { get } from '../lib/api';
import { labelText } from '../lib/format';
import { labelsOf, liveState, pointValue, subscribe, type DataFrame } from '../lib/live';
import type { Matrix, PromSuccess } from '../lib/types';
import { TrendPanel } from '../explorer/trend';
import { LiveChart, MAX_SERIES, type ChartSeries, type PerfLog } from '../explorer/live-chart';
import {
  autoStepMs,
  decodeFilter,
  DEFAULT_RANGE,
  encodeFilter,
  fmtStep,
  OPS,
  parseStep,
  RANGES,
  rangeMs,
  selector,
  stepProblem,
  type Filter,
  type Op,
} from '../explorer/query';

declare global {
  interface Window {
    __sentioPerf?: PerfLog;
  }
}

type Params = { metric?: string; f?: string | string[]; range?: string; step?: string; paused?: string; perf?: string; model?: string; score?: string };

const SCORE_METRIC = 'sentio_anomaly_score';
const DEFAULT_MODEL = 'statistical';
const DEFAULT_SCORE_THRESHOLD = 0.8;

const arr = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const sinceMs = (range: string) => Math.floor((Date.now() - Math.max(rangeMs(range), 3_600_000)) / 1000);

export default function Explorer(): JSX.Element {
  const [params, setParams] = useSearchParams<Params>();

  // What the URL says (the running query).
  const query = createMemo(
    () => ({
      metric: params.metric ?? '',
      filters: arr(params.f)
        .map(decodeFilter)
        .filter((f): f is Filter => f !== null),
      range: RANGES.some((r) => r.value === params.range) ? params.range! : DEFAULT_RANGE,
      step: params.step ?? '',
    }),
    undefined,
    { equals: (a, b) => JSON.stringify(a) === JSON.stringify(b) },
  );
  const paused = () => params.paused === '1';

  // The form (applied by "Run").
  const [metric, setMetric] = createSignal('');
  const [filters, setFilters] = createSignal<Filter[]>([]);
  const [range, setRange] = createSignal(DEFAULT_RANGE);
  const [step, setStep] = createSignal('');
  createEffect(
    on(query, (q) => {
      setMetric(q.metric);
      setFilters(q.filters);
      setRange(q.range);
      setStep(q.step);
    }),
  );

  const [metrics] = createResource(range, async (r) => (await get<PromSuccess<string[]>>('/api/label/__name__/values', { start: sinceMs(r) })).data);
  const [labelNames] = createResource(
    () => (metric() ? { m: metric(), r: range() } : null),
    async ({ m, r }) => (await get<PromSuccess<string[]>>('/api/labels', { 'match[]': [selector(m, [])], start: sinceMs(r) })).data.filter((n) => n !== '__name__'),
  );

  // Anomaly overlay: model ('' = none) and threshold, kept in the URL.
  const model = () => params.model ?? DEFAULT_MODEL;
  const scoreThreshold = () => {
    const v = Number(params.score);
    return params.score !== undefined && v >= 0 && v <= 1 ? v : DEFAULT_SCORE_THRESHOLD;
  };
  const [models] = createResource(
    () => (query().metric ? { m: query().metric, r: query().range } : null),
    async ({ m, r }) => (await get<PromSuccess<string[]>>('/api/label/model/values', { 'match[]': [selector(SCORE_METRIC, [{ name: 'metric', op: '=', value: m }])], start: sinceMs(r) })).data,
  );
  const [bands, setBands] = createSignal<number | null>(null);
  const [overlayError, setOverlayError] = createSignal<unknown>(null);
  let lastEndMs = Date.now();
  let overlayArgs: { stepMs: number; endMs: number; win: number } | null = null;

  const [formError, setFormError] = createSignal<string | null>(null);
  const run = (e?: Event) => {
    e?.preventDefault();
    if (!metric()) return setFormError('Pick a metric first.');
    const stepMs = step().trim() === '' ? autoStepMs(rangeMs(range())) : parseStep(step());
    const problem = stepProblem(stepMs, rangeMs(range()));
    if (problem) return setFormError(problem);
    setFormError(null);
    setParams({
      metric: metric(),
      f: filters()
        .filter((f) => f.name !== '')
        .map(encodeFilter),
      range: range(),
      step: step().trim() || undefined,
    });
    // Same URL (Run pressed again): reload anyway.
    if (loadedKey === JSON.stringify(query())) void load();
  };

  // Chart and live data.
  let chartEl!: HTMLDivElement;
  let chart: LiveChart | null = null;
  const perf: PerfLog | null = params.perf === '1' ? (window.__sentioPerf ??= { frames: [], work: [], draws: [] }) : null;
  const [series, setSeries] = createSignal<ChartSeries[]>([]);
  const [points, setPoints] = createSignal(0);
  const [cursor, setCursor] = createSignal<{ values: Array<number | null>; t: number } | null>(null);
  const [zoomed, setZoomed] = createSignal(false);
  const [dropped, setDropped] = createSignal(0);
  const [loading, setLoading] = createSignal(false);
  const [error, setError] = createSignal<unknown>(null);
  const [liveError, setLiveError] = createSignal<string | null>(null);
  const [activeStep, setActiveStep] = createSignal(0);

  let unsubscribe: (() => void) | null = null;
  let pending: DataFrame[] | null = null;
  let seq = 0;
  let loadedKey = '';

  const apply = (frame: DataFrame) => {
    if (!chart) return;
    for (const s of frame.series) chart.push(s.ref, s.labels, s.p[0], pointValue(s.p[1]));
  };
  const onFrame = (frame: DataFrame) => {
    if (pending) {
      if (pending.length < 10_000) pending.push(frame);
    } else apply(frame);
  };

  const stopLive = () => {
    unsubscribe?.();
    unsubscribe = null;
    pending = null;
    chart?.setLooping(false);
  };

  async function load(): Promise<void> {
    const q = query();
    stopLive();
    loadedKey = JSON.stringify(q);
    if (!q.metric || !chart) return;
    const my = ++seq;
    const r = rangeMs(q.range);
    const stepMs = q.step === '' ? autoStepMs(r) : parseStep(q.step);
    const problem = stepProblem(stepMs, r);
    if (problem) {
      setError(new Error(problem));
      return;
    }
    setActiveStep(stepMs);
    const sel = selector(q.metric, q.filters);
    setError(null);
    setLiveError(null);
    setLoading(true);
    if (!paused()) {
      pending = [];
      unsubscribe = subscribe({ selector: sel }, onFrame, (m) => setLiveError(m));
    }
    const endMs = Math.ceil(Date.now() / stepMs) * stepMs;
    const win = Math.floor(r / stepMs);
    try {
      const res = await get<PromSuccess<Matrix>>('/api/query/range', {
        query: sel,
        start: (endMs - win * stepMs) / 1000,
        end: endMs / 1000,
        step: stepMs / 1000,
      });
      if (my !== seq || !chart) return;
      chart.load({ stepMs, rangeMs: r, endMs, result: res.data.result });
      lastEndMs = endMs;
      overlayArgs = { stepMs, endMs, win };
      void loadOverlay(my, stepMs, endMs, win);
    } catch (err) {
      if (my !== seq || !chart) return;
      setError(err);
      chart.load({ stepMs, rangeMs: r, endMs, result: [] });
    } finally {
      if (my === seq) setLoading(false);
    }
    const queued = pending ?? [];
    pending = null;
    for (const f of queued) apply(f);
    if (unsubscribe) chart.setLooping(perf !== null);
  }

  async function loadOverlay(my: number, stepMs: number, endMs: number, win: number): Promise<void> {
    const q = query();
    setOverlayError(null);
    if (!chart || model() === '') {
      chart?.setOverlay(null);
      setBands(null);
      return;
    }
    const scoreSel = selector(SCORE_METRIC, [{ name: 'metric', op: '=', value: q.metric }, { name: 'model', op: '=', value: model() }, ...q.filters]);
    try {
      const res = await get<PromSuccess<Matrix>>('/api/query/range', { query: scoreSel, start: (endMs - win * stepMs) / 1000, end: endMs / 1000, step: stepMs / 1000 });
      if (my !== seq || !chart) return;
      setBands(chart.setOverlay(res.data.result.length > 0 ? { threshold: scoreThreshold(), result: res.data.result } : null));
      if (res.data.result.length === 0) setBands(null);
    } catch (err) {
      if (my !== seq) return;
      setOverlayError(err);
    }
  }

  onMount(() => {
    chart = new LiveChart(
      chartEl,
      {
        onCursor: (values, t) => setCursor(values && t !== null ? { values, t } : null),
        onDraw: ({ points: n }) => setPoints(n),
        onSeries: (s) => {
          setSeries(s);
          setDropped(chart?.dropped ?? 0);
        },
        onZoom: (z) => setZoomed(z),
      },
      perf,
      labelsOf,
    );
    // Run on a new query, on resume, and after /live comes back (to fill the gap).
    createEffect(
      on([query, paused], ([q, p], prev) => {
        const queryChanged = !prev || prev[0] !== q;
        if (p && !queryChanged) stopLive(); // pausing freezes what is drawn
        else if (queryChanged || !p) void load(); // a new query (history only while paused), or resuming
      }),
    );
    // A new model or threshold: redo the overlay on the loaded grid.
    createEffect(
      on(
        [model, scoreThreshold],
        () => {
          if (overlayArgs) void loadOverlay(seq, overlayArgs.stepMs, overlayArgs.endMs, overlayArgs.win);
        },
        { defer: true },
      ),
    );
    createEffect(
      on(liveState, (s, prev) => {
        if (s === 'live' && prev !== undefined && prev !== 'live' && !paused() && query().metric) void load();
      }),
    );
  });
  onCleanup(() => {
    seq++;
    stopLive();
    chart?.destroy();
    chart = null;
  });

  const togglePause = () => setParams({ paused: paused() ? undefined : '1' }, { replace: true });

  const updateFilter = (i: number, patch: Partial<Filter>) => setFilters((fs) => fs.map((f, j) => (j === i ? { ...f, ...patch } : f)));

  const shownCount = () => series().filter((s) => s.shown).length;

  return (
    <section class="explorer">
      <div class="page-head">
        <h1>Explorer</h1>
        <span class="muted small">{query().metric ? selector(query().metric, query().filters) : 'no query yet'}</span>
      </div>
      <form class="card query-form" onSubmit={run}>
        <div class="row">
          <div class="field grow">
            <label for="metric-picker">Metric</label>
            <select id="metric-picker" data-testid="metric-picker" value={metric()} onChange={(e) => setMetric(e.currentTarget.value)}>
              <option value="">{metrics.loading ? 'Loading metrics…' : 'Pick a metric'}</option>
              <Show when={metric() && !(metrics.latest ?? []).includes(metric())}>
                <option value={metric()}>{metric()}</option>
              </Show>
              <For each={metrics.latest ?? []}>{(m) => <option value={m}>{m}</option>}</For>
            </select>
          </div>
          <div class="field">
            <label for="range-select">Range</label>
            <select id="range-select" data-testid="range-select" value={range()} onChange={(e) => setRange(e.currentTarget.value)}>
              <For each={RANGES}>{(r) => <option value={r.value}>{r.label}</option>}</For>
            </select>
          </div>
          <div class="field narrow">
            <label for="step-input">Step</label>
            <input
              id="step-input"
              data-testid="step-input"
              placeholder={`auto (${fmtStep(autoStepMs(rangeMs(range())))})`}
              value={step()}
              onInput={(e) => setStep(e.currentTarget.value)}
              aria-describedby="step-help"
            />
          </div>
          <div class="field">
            <button type="submit" data-testid="run-query">
              Run
            </button>
          </div>
        </div>
        <p id="step-help" class="muted small">
          Step: 10s, 1m, 500ms… Empty: about 300 points over the range.
        </p>
        <fieldset class="filters" data-testid="label-filters">
          <legend>Label filters</legend>
          <Index each={filters()}>
            {(f, i) => (
              <FilterRow
                index={i}
                filter={f()}
                metric={metric()}
                others={filters().filter((_, j) => j !== i)}
                names={labelNames.latest ?? []}
                range={range()}
                onChange={(p) => updateFilter(i, p)}
                onRemove={() => setFilters((fs) => fs.filter((_, j) => j !== i))}
              />
            )}
          </Index>
          <button type="button" class="secondary" onClick={() => setFilters((fs) => [...fs, { name: '', op: '=', value: '' }])} disabled={!metric()}>
            Add filter
          </button>
        </fieldset>
        <Show when={formError()}>
          <p class="error" role="alert">
            {formError()}
          </p>
        </Show>
      </form>

      <div class="card chart-card">
        <div class="chart-bar">
          <button type="button" class="secondary" data-testid="pause-toggle" aria-pressed={paused()} onClick={togglePause} disabled={!query().metric}>
            {paused() ? 'Resume live' : 'Pause'}
          </button>
          <Show when={zoomed()}>
            <button type="button" class="secondary" onClick={() => chart?.resetZoom()}>
              Reset zoom
            </button>
          </Show>
          <span class="muted small" data-testid="series-count" data-value={String(series().length)}>
            {series().length} series{shownCount() !== series().length ? ` (${shownCount()} shown)` : ''}
            {dropped() > 0 ? `; only the first ${MAX_SERIES} are drawn` : ''}
          </span>
          <span class="muted small">
            step {activeStep() ? fmtStep(activeStep()) : '—'} ·{' '}
            {paused() ? 'paused' : liveState() === 'live' ? 'live' : <span class="warn-text">not live ({liveState()})</span>}
            {loading() ? ' · loading…' : ''}
          </span>
        </div>
        <div class="overlay-bar" data-testid="anomaly-overlay">
          <div class="field">
            <label for="model-picker">Anomaly model</label>
            <select id="model-picker" data-testid="model-picker" value={model()} onChange={(e) => setParams({ model: e.currentTarget.value }, { replace: true })}>
              <option value="">none</option>
              <Show when={model() && !(models.latest ?? []).includes(model())}>
                <option value={model()}>{model()}</option>
              </Show>
              <For each={models.latest ?? []}>{(m) => <option value={m}>{m}</option>}</For>
            </select>
          </div>
          <div class="field">
            <label for="score-threshold">Score ≥</label>
            <input
              id="score-threshold"
              data-testid="score-threshold"
              inputMode="decimal"
              value={String(scoreThreshold())}
              onChange={(e) => setParams({ score: e.currentTarget.value.trim() || undefined }, { replace: true })}
            />
          </div>
          <span class="muted small" data-testid="anomaly-bands" data-value={String(bands() ?? '')}>
            {bands() === null ? (model() ? 'no scores for this series' : 'overlay off') : `${bands()} anomalous stretch${bands() === 1 ? '' : 'es'} shaded`}
          </span>
        </div>
        <ErrorBanner error={overlayError()} />
        <ErrorBanner error={error()} />
        <Show when={liveError()}>
          <p class="error">Live: {liveError()}</p>
        </Show>
        <div
          class="chart"
          classList={{ stale: !paused() && liveState() !== 'live' }}
          ref={chartEl}
          data-testid="chart"
          data-points={String(points())}
          role="img"
          aria-label={`Chart of ${series().length} series; drag to zoom, double-click to reset`}
        />
        <Show when={!query().metric}>
          <p class="muted">Pick a metric and press Run.</p>
        </Show>
        <p class="muted small cursor-time">{cursor() ? new Date(cursor()!.t).toLocaleString() : 'Hover the chart for values; drag to zoom; double-click to reset.'}</p>
        <Show when={query().metric}>
          <TrendPanel selector={selector(query().metric, query().filters)} window={query().range} endSec={() => Math.floor(lastEndMs / 1000)} />
        </Show>
        <ul class="legend" aria-label="Series (toggle to show or hide)">
          <Index each={series()}>
            {(s, i) => (
              <li>
                <button type="button" class="legend-item" aria-pressed={s().shown} onClick={() => chart?.setShown(i, !s().shown)}>
                  <span class="swatch" style={{ background: s().shown ? s().color : 'transparent', 'border-color': s().color }} />
                  <span class="legend-label">{labelText(s().labels)}</span>
                  <span class="num legend-value">{fmtValue(cursor()?.values[i])}</span>
                </button>
              </li>
            )}
          </Index>
        </ul>
      </div>
    </section>
  );
}

function fmtValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(4);
}

function FilterRow(props: {
  index: number;
  filter: Filter;
  metric: string;
  others: Filter[];
  names: string[];
  range: string;
  onChange: (p: Partial<Filter>) => void;
  onRemove: () => void;
}): JSX.Element {
  const id = (part: string) => `filter-${props.index}-${part}`;
  const [values] = createResource(
    () => (props.metric && props.filter.name ? { sel: selector(props.metric, props.others), name: props.filter.name, range: props.range } : null),
    async ({ sel, name, range }) => (await get<PromSuccess<string[]>>(`/api/label/${encodeURIComponent(name)}/values`, { 'match[]': [sel], start: sinceMs(range) })).data,
  );
  return (
    <div class="row filter-row">
      <div class="field">
        <label for={id('name')}>Label</label>
        <select id={id('name')} value={props.filter.name} onChange={(e) => props.onChange({ name: e.currentTarget.value })}>
          <option value="">Pick a label</option>
          <Show when={props.filter.name && !props.names.includes(props.filter.name)}>
            <option value={props.filter.name}>{props.filter.name}</option>
          </Show>
          <For each={props.names}>{(n) => <option value={n}>{n}</option>}</For>
        </select>
      </div>
      <div class="field narrow">
        <label for={id('op')}>Match</label>
        <select id={id('op')} value={props.filter.op} onChange={(e) => props.onChange({ op: e.currentTarget.value as Op })}>
          <For each={OPS}>{(o) => <option value={o}>{o}</option>}</For>
        </select>
      </div>
      <div class="field grow">
        <label for={id('value')}>Value</label>
        <input id={id('value')} list={id('values')} value={props.filter.value} onInput={(e) => props.onChange({ value: e.currentTarget.value })} autocomplete="off" />
        <datalist id={id('values')}>
          <For each={values.latest ?? []}>{(v) => <option value={v} />}</For>
        </datalist>
      </div>
      <div class="field">
        <button type="button" class="secondary" onClick={() => props.onRemove()} aria-label={`Remove filter ${props.index + 1}`}>
          Remove
        </button>
      </div>
    </div>
  );
}
