// Signal-typed batches: what the router hands to sinks. A batch carries one
// kind of telemetry and, for metrics, the encoding its sink asked the core
// for (src/native/types.ts, OutputSpec). Logs and spans get batch types of
// their own beside MetricsBatch; a sink declares the signals it takes.

import type { EncodedOutput } from '../native/types.js';

/** A batch of samples, encoded as the receiving sink declared (its `metricsEncoding`). */
export interface MetricsBatch {
  readonly signal: 'metrics';
  /** Samples in `encoded` (each once, whatever the replication). */
  readonly samples: number;
  readonly encoded: EncodedOutput;
}

/** Every signal-typed batch (metrics now; logs and spans extend this union). */
export type SignalBatch = MetricsBatch;

/** The kinds of telemetry: the `signal` of a batch. */
export type Signal = SignalBatch['signal'];

/** Every signal, for configuration checks. */
export const SIGNALS: readonly Signal[] = ['metrics'];
