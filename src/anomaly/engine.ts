// The anomaly engine: per-series streaming features in the native core, fed
// by every ingest call (on whichever thread parses it: IngestOptions.features
// names the shared store), and models that score every series on a schedule.
// Scores are series of their own,
//
//   sentio_anomaly_score{metric="<the series' name>", <its labels>, model, model_version}
//
// written at the round's time to the sinks like any other sample (and shown
// on /live), so they are queried, charted and alerted on like the rest.
//
// - Rounds: each model scores on its own interval. Models of one interval
//   share a reader of the store (its peak z-scores start anew at each read),
//   so each schedule sees every spike between two of its rounds once; at
//   most 4 distinct intervals (the core's readers).
// - A series is scored once it has `minSamples` samples (before that its
//   features say too little); a score the model gives as NaN is left out.
// - Bounded: at most `maxSeries` series are tracked (samples of others are
//   counted as untracked), and series silent for `idleMs` are evicted, with
//   their score series.
// - A round's scores are written once: a write that fails is counted
//   (sentio_anomaly_scores_dropped_total) and logged, not retried (the next
//   round has fresh scores). A model that throws is counted the same way and
//   never ends the process.

import client from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/index.js';
import { native } from '../native/index.js';
import type { FeatureStore, Readings } from '../native/types.js';
import type { IngestObserver, ObserverParseOptions } from '../pipeline/port.js';
import { FEATURES, featureColumns, type Model } from './models.js';

export const SCORE_METRIC = 'sentio_anomaly_score';
/** Samples a series needs before it is scored. */
export const DEFAULT_MIN_SAMPLES = 16;

export interface AnomalyEngineOptions {
  models: ReadonlyArray<{ model: Model; intervalMs: number }>;
  /** Series tracked at most (default 100,000). */
  maxSeries?: number;
  /** A series silent this long is forgotten (default an hour). */
  idleMs?: number;
  /** Samples a series needs before it is scored (default 16). */
  minSamples?: number;
  registry: Registry;
  log: Logger;
  /** Stores a batch of score readings in the sinks; rejects when it could not. */
  write(readings: Readings): Promise<void>;
  now?: () => number;
}

const COUNT = FEATURES.indexOf('count');

/**
 * The score series' labels (encodeLabels text) for a series' labels
 * (`__name__` first, as FeatureStore.labels gives them): the series' name
 * moves to `metric`, `model` and `model_version` are added (they replace
 * labels of those names).
 */
export function scoreSeriesText(labels: string, model: Model): string {
  const pairs = labels.split('\0');
  const out: string[] = ['__name__', SCORE_METRIC];
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const k = pairs[i]!;
    if (k === 'model' || k === 'model_version' || k === 'metric') continue;
    out.push(k === '__name__' ? 'metric' : k, pairs[i + 1]!);
  }
  out.push('model', model.name, 'model_version', model.version);
  return out.join('\0');
}

/** The score series of one model: native series ids by source series id, and the round each was last scored in. */
class ScoreSeries {
  readonly ids = new Map<bigint, { id: number; round: number }>();

  release(keep: (round: number) => boolean): void {
    for (const [k, v] of this.ids) {
      if (keep(v.round)) continue;
      native.releaseSeries(v.id);
      this.ids.delete(k);
    }
  }
}

interface Schedule {
  reader: number;
  intervalMs: number;
  /** `user`: set by setUserModels (the registry's), not configured. */
  models: Array<{ model: Model; columns: number[]; series: ScoreSeries; labels: Record<string, string>; user?: boolean }>;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  round: number;
}

export class AnomalyEngine implements IngestObserver {
  readonly store: FeatureStore;
  private readonly schedules: Schedule[] = [];
  private readonly minSamples: number;
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly scores: client.Counter;
  private readonly dropped: client.Counter;
  private readonly roundSeconds: client.Histogram;
  private readonly inferenceSeconds: client.Histogram;
  private closed = false;

  constructor(private readonly o: AnomalyEngineOptions) {
    this.minSamples = o.minSamples ?? DEFAULT_MIN_SAMPLES;
    this.idleMs = o.idleMs ?? 3_600_000;
    this.now = o.now ?? Date.now;
    const maxSeries = o.maxSeries ?? 100_000;
    this.store = new native.FeatureStore({ maxSeries });
    const intervals = [...new Set(o.models.map((m) => m.intervalMs))];
    if (intervals.length > 4) throw new Error(`anomaly models run on at most 4 distinct intervals, got ${intervals.length}`);
    for (const [reader, intervalMs] of intervals.entries()) {
      const models = o.models
        .filter((m) => m.intervalMs === intervalMs)
        .map(({ model }) => ({ model, columns: featureColumns(model.inputs), series: new ScoreSeries(), labels: { model: model.name, model_version: model.version } }));
      this.schedules.push({ reader, intervalMs, models, round: 0 });
    }
    const r = [o.registry];
    const store = this.store;
    new client.Gauge({ name: 'sentio_anomaly_series', help: 'Series whose features the anomaly engine tracks.', registers: r, collect() { this.set(store.size); } });
    new client.Gauge({ name: 'sentio_anomaly_max_series', help: 'Series the anomaly engine tracks at most (--anomaly-max-series); samples of others are counted as untracked.', registers: r, collect() { this.set(maxSeries); } });
    new client.Gauge({
      name: 'sentio_anomaly_state_bytes',
      help: "Memory of the tracked series' feature states and labels.",
      registers: r,
      collect() {
        this.set(store.size * native.FeatureStore.bytesPerSeries() + store.labelBytes);
      },
    });
    new client.Counter({
      name: 'sentio_anomaly_samples_total',
      help: 'Samples the feature store saw, by outcome: updated, out_of_order (older than their series newest, skipped), untracked (the store full).',
      labelNames: ['outcome'],
      registers: r,
      collect() {
        const t = store.totals;
        this.reset();
        this.inc({ outcome: 'updated' }, t.updated);
        this.inc({ outcome: 'out_of_order' }, t.outOfOrder);
        this.inc({ outcome: 'untracked' }, t.untracked);
      },
    });
    new client.Counter({
      name: 'sentio_anomaly_evicted_series_total',
      help: 'Series forgotten after --anomaly-idle-s without a sample.',
      registers: r,
      collect() {
        this.reset();
        this.inc(store.evicted);
      },
    });
    this.scores = new client.Counter({ name: 'sentio_anomaly_scores_total', help: 'Anomaly scores written, by model.', labelNames: ['model', 'model_version'], registers: r });
    this.dropped = new client.Counter({
      name: 'sentio_anomaly_scores_dropped_total',
      help: 'Anomaly scores not written, by model and reason: write (the sinks refused the round), model (the model failed), unlabelled (a series fed without labels).',
      labelNames: ['model', 'model_version', 'reason'],
      registers: r,
    });
    this.inferenceSeconds = new client.Histogram({
      name: 'sentio_anomaly_inference_seconds',
      help: "Time a model took to score a round's series (for an ONNX model: the inferences in its worker threads, and the wait for them), by model.",
      labelNames: ['model', 'model_version'],
      buckets: [0.0005, 0.002, 0.01, 0.05, 0.2, 1, 5],
      registers: r,
    });
    this.roundSeconds = new client.Histogram({
      name: 'sentio_anomaly_round_seconds',
      help: 'Time of a scoring round: features read, scored and written, by model interval.',
      labelNames: ['interval_s'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
      registers: r,
    });
  }

  /** Every ingest call feeds the store. */
  parseOptions(): ObserverParseOptions {
    return { features: this.store.handle };
  }

  /** Starts the rounds. */
  start(): void {
    for (const s of this.schedules) {
      s.timer = setInterval(() => {
        s.running ??= this.round(s).finally(() => (s.running = undefined));
      }, s.intervalMs);
      s.timer.unref();
    }
  }

  /** One round of every schedule now (tests, and what the timers run). */
  async roundNow(nowMs = this.now()): Promise<void> {
    for (const s of this.schedules) await this.round(s, nowMs);
  }

  private async round(s: Schedule, nowMs = this.now()): Promise<void> {
    if (this.closed) return;
    const end = this.roundSeconds.startTimer({ interval_s: String(s.intervalMs / 1000) });
    // The first schedule evicts: a series idle for idleMs is gone for every model.
    if (s.reader === 0) this.store.evictIdle(nowMs - this.idleMs);
    const m = this.store.features(nowMs, s.reader);
    const f = FEATURES.length;
    const all = m.ids.length / 8;
    const rows: number[] = [];
    for (let i = 0; i < all; i++) if (m.values[i * f + COUNT]! >= this.minSamples) rows.push(i);
    s.round++;
    for (const sm of s.models) {
      try {
        await this.scoreWith(s, sm, m, rows, nowMs);
      } catch (err) {
        this.dropped.inc({ ...sm.labels, reason: 'model' }, rows.length);
        this.o.log.warn(`anomaly model ${sm.model.name} ${sm.model.version}: round failed: ${(err as Error).message}`);
      }
      // Score series of series that were not scored this round (evicted, or no longer tracked) go.
      sm.series.release((round) => round === s.round);
    }
    end();
  }

  private async scoreWith(s: Schedule, sm: Schedule['models'][number], m: { ids: Buffer; values: Float64Array }, rows: number[], nowMs: number): Promise<void> {
    const f = FEATURES.length;
    const k = sm.columns.length;
    const input = new Float64Array(rows.length * k);
    rows.forEach((r, j) => {
      for (let c = 0; c < k; c++) input[j * k + c] = m.values[r * f + sm.columns[c]!]!;
    });
    const timer = this.inferenceSeconds.startTimer(sm.labels);
    const scores = await sm.model.score(input, rows.length);
    timer();
    if (scores.length !== rows.length) throw new Error(`gave ${scores.length} scores for ${rows.length} series`);
    const ids = new Uint32Array(rows.length);
    const values = new Float64Array(rows.length);
    let n = 0;
    const fresh: Array<{ at: number; key: bigint }> = [];
    rows.forEach((r, j) => {
      const score = scores[j]!;
      if (Number.isNaN(score)) return;
      const key = m.ids.readBigUInt64LE(r * 8);
      const known = sm.series.ids.get(key);
      if (known) {
        known.round = s.round;
        ids[n] = known.id;
      } else fresh.push({ at: n, key });
      values[n++] = Math.min(1, Math.max(0, score));
    });
    if (fresh.length > 0) {
      const keys = Buffer.alloc(fresh.length * 8);
      fresh.forEach((x, i) => keys.writeBigUInt64LE(x.key, i * 8));
      const labels = this.store.labels(keys);
      const missing = new Set<number>();
      fresh.forEach((x, i) => {
        const text = labels[i];
        if (text === null || text === undefined) return void missing.add(x.at);
        const id = native.registerSeries(scoreSeriesText(text, sm.model));
        sm.series.ids.set(x.key, { id, round: s.round });
        ids[x.at] = id;
      });
      if (missing.size > 0) {
        this.dropped.inc({ ...sm.labels, reason: 'unlabelled' }, missing.size);
        n = compact(ids, values, n, missing);
      }
    }
    if (n === 0) return;
    const readings: Readings = {
      series: [],
      seriesIds: ids.subarray(0, n),
      sampleSeries: Uint32Array.from({ length: n }, (_, i) => i),
      timestamps: new Float64Array(n).fill(nowMs),
      values: values.subarray(0, n),
    };
    try {
      await this.o.write(readings);
      this.scores.inc(sm.labels, n);
    } catch (err) {
      this.dropped.inc({ ...sm.labels, reason: 'write' }, n);
      this.o.log.warn(`anomaly scores of ${sm.model.name} ${sm.model.version}: ${n} not written: ${(err as Error).message}`);
    }
  }

  /**
   * Replaces the models scored beside the configured ones (the registry's
   * user models: each active and shadow version), on the first schedule's
   * interval. A model kept (the same object) keeps its score series; the
   * series of one gone are released once a round running now has ended.
   */
  setUserModels(models: readonly Model[]): void {
    const s = this.schedules[0];
    if (s === undefined || this.closed) return;
    const kept = new Set(models);
    const gone = s.models.filter((sm) => sm.user && !kept.has(sm.model));
    const have = new Set(s.models.map((sm) => sm.model));
    const added = models
      .filter((model) => !have.has(model))
      .map((model) => ({ model, columns: featureColumns(model.inputs), series: new ScoreSeries(), labels: { model: model.name, model_version: model.version }, user: true }));
    s.models = [...s.models.filter((sm) => !sm.user || kept.has(sm.model)), ...added];
    void Promise.resolve(s.running).then(() => {
      for (const sm of gone) sm.series.release(() => false);
    });
  }

  /** Stops the rounds (waiting for those running) and the store's feeding. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.schedules) clearInterval(s.timer);
    await Promise.all(this.schedules.map((s) => s.running));
    this.store.close();
    for (const s of this.schedules) for (const sm of s.models) sm.series.release(() => false);
  }
}

/** Drops the entries at `skip` from the first n of ids and values; returns the new length. */
function compact(ids: Uint32Array, values: Float64Array, n: number, skip: ReadonlySet<number>): number {
  let w = 0;
  for (let i = 0; i < n; i++) {
    if (skip.has(i)) continue;
    ids[w] = ids[i]!;
    values[w++] = values[i]!;
  }
  return w;
}
