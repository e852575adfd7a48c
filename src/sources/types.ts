// The Source contract: one way in. A source hands what it receives to the
// IngestPort (src/pipeline/port.ts), as bytes in a wire format the core
// parses or as typed readings, and names itself in every metric (`protocol`).
// Front-end sources (InfluxDB HTTP, WebSocket; later OTLP, Prometheus remote
// write, Loki push) declare the HTTP routes and WebSocket endpoints they
// serve, and the server (src/server) routes them; connectors (src/connectors,
// later) poll or subscribe from start() to stop().
//
// Each source has a folder of the same shape: index.ts (the Source, with a
// comment on its protocol and edge cases), codec.ts (its wire format: how a
// request or frame becomes bytes, options and a reply), and tests.

import type { HttpRequest, HttpResponse, TemplatedApp, WebSocketBehavior } from 'uWebSockets.js';
import type { IngestPort } from '../pipeline/port.js';

/** What a source writes under: the `protocol` label of its metrics (influx_v1, ws, mqtt, ...). Sources name themselves. */
export type Protocol = string;

export interface SourceHealth {
  ok: boolean;
  detail?: string;
}

/** An HTTP route a source serves; the server registers it behind its guard (a handler that throws is answered 500). */
export interface HttpRoute {
  method: 'get' | 'post' | 'put' | 'head' | 'del' | 'any';
  path: string;
  handler: (res: HttpResponse, req: HttpRequest) => void;
}

/** A WebSocket endpoint a source serves (made by webSocketRoute, which keeps its user-data type). */
export interface WebSocketRoute {
  path: string;
  /** Registers the endpoint on the server's app. */
  attach(app: TemplatedApp): void;
}

export function webSocketRoute<T>(path: string, behavior: WebSocketBehavior<T>): WebSocketRoute {
  return {
    path,
    attach(app) {
      app.ws<T>(path, behavior);
    },
  };
}

export interface Source {
  /** The source's name (its folder): influx, ws, ... */
  readonly name: string;
  /** The protocols it writes under, for metrics that list every way in (the gateway's own counters). */
  readonly protocols: readonly Protocol[];
  /** HTTP routes it serves (a front end); the server registers them. */
  readonly http?: readonly HttpRoute[];
  /** WebSocket endpoints it serves. */
  readonly websockets?: readonly WebSocketRoute[];
  /**
   * Starts the source with its port into the pipeline. A front end takes
   * requests from here on (before, it refuses them as not ready); a
   * connector connects or starts polling.
   */
  start(port: IngestPort): Promise<void>;
  /** Stops taking input: a front end refuses new requests, a connector disconnects. */
  stop(): Promise<void>;
  /**
   * At shutdown, after stop(): ends the front end's open connections, each
   * once its requests in flight are answered, so clients reconnect (to the
   * next instance) instead of sending into a gateway that refuses them.
   */
  disconnect?(): void;
  health(): SourceHealth;
}

/**
 * The lifecycle every front end shares: it takes requests between start()
 * and stop(), while the gateway is ready; `ready()` is the port then, else
 * undefined (the request is refused as not ready). Open connections stay
 * until the server closes them.
 */
export abstract class FrontEndSource implements Source {
  abstract readonly name: string;
  abstract readonly protocols: readonly Protocol[];
  private port: IngestPort | undefined;
  private stopped = false;

  /** `isReady`: the gateway takes writes (false while starting and shutting down). */
  constructor(private readonly isReady: () => boolean) {}

  /** The port while this source takes requests, else undefined. */
  protected readonly ready = (): IngestPort | undefined => (this.stopped || !this.isReady() ? undefined : this.port);

  async start(port: IngestPort): Promise<void> {
    this.port = port;
    this.stopped = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }

  health(): SourceHealth {
    if (this.port === undefined) return { ok: false, detail: 'not started' };
    return this.stopped ? { ok: false, detail: 'stopped' } : { ok: true };
  }
}
