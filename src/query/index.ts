// The query engines behind /api/query/*: one QueryEngine interface
// (types.ts, Prometheus API result shapes), two implementations.
//
// - VictoriaMetrics (production): victoriametrics.ts passes PromQL/MetricsQL
//   through; with a vmselect URL only it is asked, with several single nodes
//   every node is asked and the answers merged (top-level sum/min/max/avg
//   computed here from the merged series).
// - Embedded (DuckDB): embedded.ts answers a subset (selectors, rate,
//   sum/min/max/avg by/without) with VictoriaMetrics 1.79.5's semantics and
//   refuses the rest with SENTIO_ERR_UNSUPPORTED_QUERY naming it.
//
// createQueryEngine picks one from the configuration: VictoriaMetrics when
// a vmselect or VictoriaMetrics write URLs are given (write URLs are turned
// into query base URLs, see baseUrlOf), else the embedded store. The gateway
// passes the write URLs only when the embedded store is off, so with both
// sinks queries go to the local store unless --vmselect is set.
// Semantics and differences: docs/query.md.

import type { EmbeddedStore } from '../embedded/index.js';
import { EmbeddedQueryEngine } from './embedded.js';
import type { QueryEngine } from './types.js';
import { baseUrlOf, VictoriaMetricsQueryEngine } from './victoriametrics.js';

export type * from './types.js';
export { EmbeddedQueryEngine, planQuery, type EmbeddedQueryOptions, type QueryPlan } from './embedded.js';
export { formatSelector, matchesLabels, parseSelector, type Matcher, type MatchOp, type Selector } from './selector.js';
export { baseUrlOf, VictoriaMetricsQueryEngine, type VictoriaMetricsQueryOptions } from './victoriametrics.js';

export interface CreateQueryEngineOptions {
  /** A cluster's Prometheus-API prefix (e.g. http://host:8481/select/0/prometheus). */
  vmselect?: string;
  /** The VictoriaMetrics write URLs of the configuration (one per shard). */
  victoriametrics: string[];
  /** The embedded store, when it is on. */
  embedded?: EmbeddedStore;
  /** Per request to VictoriaMetrics (default 30 s). */
  timeoutMs?: number;
}

export function createQueryEngine(opts: CreateQueryEngineOptions): QueryEngine {
  if (opts.vmselect || opts.victoriametrics.length > 0) {
    return new VictoriaMetricsQueryEngine({
      ...(opts.vmselect ? { vmselect: opts.vmselect } : {}),
      shards: opts.victoriametrics.map(baseUrlOf),
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
  }
  if (opts.embedded) return new EmbeddedQueryEngine(opts.embedded);
  throw new Error('createQueryEngine: neither VictoriaMetrics URLs nor the embedded store are configured');
}
