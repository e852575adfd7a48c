// The router: hands each signal-typed batch to every sink that a rule routes
// it to, and acknowledges only when all of them hold it durably.
//
// - Rules (config `routes`) name sinks, optionally signals, and a series
//   selector. A series goes to every sink of every rule it matches; a sink
//   named in no rule gets nothing. Without rules every sink takes everything
//   of the signals it declares.
// - Metrics: the core maps a batch once and encodes it once per routed sink
//   (`outputs`, one OutputSpec each: the sink's encoding and the rules'
//   matchers as alternatives), so neither the parse nor the series matching
//   is repeated per sink. Samples no rule routes anywhere are counted as
//   dropped (`sentio_unrouted_samples_total`), not refused: the client sent
//   nothing wrong.
// - Ack: `routeMetrics` resolves when every routed sink's write resolved
//   (queue append, or commit). When any sink fails the batch fails, with that
//   sink's error; the sinks that took it keep it, so the client's retry
//   writes those samples again (docs/guarantees.md: VictoriaMetrics
//   deduplicates them, the embedded store's queries take the last written).

import type { RouteSpec } from '../config/index.js';
import { SentioError } from '../errors.js';
import type { IngestResult, LabelMatcher, OutputSpec } from '../native/types.js';
import type { Signal } from '../signals/index.js';
import type { Sink, SinkHealth } from '../sinks/types.js';

export interface RouterMetrics {
  /** Samples of a batch that no rule routes to any sink. */
  unrouted(samples: number): void;
}

/** Which series of one signal a sink takes: undefined, every series; else any of the alternatives. */
type Selection = LabelMatcher[][] | undefined;

function selectionFor(sink: Sink, signal: Signal, rules: readonly RouteSpec[] | undefined): Selection | null {
  if (!sink.signals.includes(signal)) return null;
  if (rules === undefined) return undefined;
  const mine = rules.filter((r) => r.sinks.includes(sink.name) && (r.signals === undefined || r.signals.includes(signal)));
  if (mine.length === 0) return null;
  // A rule without matchers takes every series: no filter at all.
  if (mine.some((r) => r.match.length === 0)) return undefined;
  return mine.map((r) => r.match);
}

/** Of several sink failures, the one to answer with: a retryable one first (a retry may then store all), else the first. */
function answerFor(failures: Array<{ sink: Sink; err: unknown }>): SentioError {
  const errs = failures.map(({ sink, err }) => {
    if (err instanceof SentioError) return err;
    // A sink that broke its contract: not stored, try again.
    return new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', `${sink.name}: ${(err as Error).message}`, { cause: err });
  });
  const chosen = errs.find((e) => e.status >= 429) ?? errs[0]!;
  if (failures.length === 1) return chosen;
  const names = failures.map((f) => f.sink.name).join(', ');
  return new SentioError(chosen.code, `${chosen.message} (sinks that did not store the batch: ${names})`, { cause: chosen, ...(chosen.details ? { details: chosen.details } : {}) });
}

export class Router {
  /** The sinks that take metrics, in the order of `metricsOutputs`. */
  private readonly metricsSinks: Sink[];
  /** What the core encodes for a metrics batch: one output per sink in `metricsSinks`. */
  readonly metricsOutputs: readonly OutputSpec[];

  constructor(
    readonly sinks: readonly Sink[],
    readonly rules: readonly RouteSpec[] | undefined,
    private readonly metrics: RouterMetrics,
  ) {
    const routed: Array<{ sink: Sink; output: OutputSpec }> = [];
    for (const sink of sinks) {
      const sel = selectionFor(sink, 'metrics', rules);
      if (sel === null) continue;
      routed.push({ sink, output: { ...sink.metricsEncoding, ...(sel === undefined ? {} : { match: sel }) } });
    }
    this.metricsSinks = routed.map((r) => r.sink);
    this.metricsOutputs = routed.map((r) => r.output);
  }

  /** Sinks that no rule sends anything (a warning at start: probably a typo in the routes). */
  idleSinks(): Sink[] {
    return this.sinks.filter((s) => !this.metricsSinks.includes(s));
  }

  /**
   * Hands each routed sink its output of `result` (parsed with
   * `outputs: metricsOutputs`). Resolves when all of them hold it durably;
   * rejects with a SentioError otherwise.
   */
  async routeMetrics(result: Pick<IngestResult, 'outputs' | 'unroutedSamples'>): Promise<void> {
    if (result.unroutedSamples > 0) this.metrics.unrouted(result.unroutedSamples);
    const outputs = result.outputs;
    if (outputs.length !== this.metricsSinks.length) {
      throw new SentioError('SENTIO_ERR_INTERNAL', `the batch has ${outputs.length} outputs for ${this.metricsSinks.length} sinks: parsed without the router's outputs`);
    }
    const writes: Promise<void>[] = [];
    const sinks: Sink[] = [];
    for (let i = 0; i < outputs.length; i++) {
      const encoded = outputs[i]!;
      // A sink whose rules pass no series of this batch gets no write.
      if (encoded.samples === 0) continue;
      sinks.push(this.metricsSinks[i]!);
      writes.push(this.metricsSinks[i]!.write({ signal: 'metrics', samples: encoded.samples, encoded }));
    }
    const settled = await Promise.allSettled(writes);
    const failures: Array<{ sink: Sink; err: unknown }> = [];
    settled.forEach((s, i) => {
      if (s.status === 'rejected') failures.push({ sink: sinks[i]!, err: s.reason });
    });
    if (failures.length > 0) throw answerFor(failures);
  }

  /** Every sink's health: healthy when all are. */
  async health(): Promise<{ ok: boolean; sinks: Array<{ sink: Sink; health: SinkHealth }> }> {
    const all = await Promise.all(
      this.sinks.map(async (sink) => ({ sink, health: await sink.health().catch((err: unknown): SinkHealth => ({ ok: false, detail: (err as Error).message })) })),
    );
    return { ok: all.every((h) => h.health.ok), sinks: all };
  }

  /** Closes every sink, sharing the grace period (queued sinks deliver meanwhile, side by side). */
  async close(graceMs = 0): Promise<void> {
    const results = await Promise.allSettled(this.sinks.map((s) => s.close(graceMs)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
