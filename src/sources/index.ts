// The sources of the gateway. Today the front ends: the InfluxDB write API
// over HTTP (src/sources/influx) and the WebSocket protocol (src/sources/ws);
// each is a Source whose routes the server serves. Connectors (later) are
// sources too, made from their stored configuration.

import type { Authenticator } from '../auth/index.js';
import type { BodyLimits } from '../http/body.js';
import type { MemoryBudget } from '../http/budget.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { InfluxSource } from './influx/index.js';
import type { Source } from './types.js';
import { WebSocketSource, type WsSourceDeps } from './ws/index.js';

export type { Protocol, Source, SourceHealth } from './types.js';

export interface FrontEndDeps {
  auth: Authenticator;
  metrics: Metrics;
  log: Logger;
  /** HTTP body limits (compressed, decompressed, ratio). */
  limits: BodyLimits;
  budget: MemoryBudget;
  maxFrameBytes: number;
  ws: WsSourceDeps['ws'];
  isReady: () => boolean;
}

/** The HTTP and WebSocket front ends, not yet started. */
export function frontEndSources(deps: FrontEndDeps): Source[] {
  return [new InfluxSource(deps), new WebSocketSource(deps)];
}
