// The query interface behind GET /api/query/range, /api/query/instant and
// the series and label listings. Results use the data shapes of the
// Prometheus HTTP API (what VictoriaMetrics answers, what dashboards read):
// https://prometheus.io/docs/prometheus/latest/querying/api/
//
// Two engines: VictoriaMetrics (PromQL/MetricsQL passed through; sharded
// setups query every shard and merge, or one vmselect URL) and the embedded
// DuckDB store (a subset: a metric name, label matchers = != =~ !~, a range,
// a step, and rate/avg/min/max/sum [by (labels)]). An expression outside the
// subset is refused with SENTIO_ERR_UNSUPPORTED_QUERY naming what is
// unsupported; a malformed one with SENTIO_ERR_BAD_QUERY.

export type Labels = Record<string, string>;

/** [unix seconds, value as a string] as in the Prometheus API ("NaN", "+Inf" included). */
export type SamplePair = [number, string];

export interface MatrixResult {
  resultType: 'matrix';
  result: Array<{ metric: Labels; values: SamplePair[] }>;
}

export interface VectorResult {
  resultType: 'vector';
  result: Array<{ metric: Labels; value: SamplePair }>;
}

export interface RangeQuery {
  query: string;
  /** Unix ms. */
  startMs: number;
  endMs: number;
  stepMs: number;
}

export interface InstantQuery {
  query: string;
  timeMs: number;
}

export interface SeriesQuery {
  /** Series selectors (`match[]`); at least one. */
  match: string[];
  startMs: number;
  endMs: number;
}

export interface QueryEngine {
  /** 'victoriametrics' | 'embedded'. */
  readonly name: string;
  range(q: RangeQuery): Promise<MatrixResult>;
  instant(q: InstantQuery): Promise<VectorResult>;
  /** Label sets of the series matching any selector that have samples in the range. */
  series(q: SeriesQuery): Promise<Labels[]>;
  /** Label names, sorted; `match` empty: over all series. */
  labelNames(q: Partial<SeriesQuery> & { startMs: number; endMs: number }): Promise<string[]>;
  /** Values of one label (`__name__` for metric names), sorted. */
  labelValues(label: string, q: Partial<SeriesQuery> & { startMs: number; endMs: number }): Promise<string[]>;
}
