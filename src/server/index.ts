// The uWebSockets.js front end: routes, listen and close. It serves what the
// sources declare (src/sources: HTTP routes, WebSocket endpoints), the
// probes, /metrics, the API and /live (registered by the gateway) and the
// dashboard; handlers live with their components, this module only wires
// them to paths, behind the guard. With a certificate and key, the same port serves HTTPS and
// WSS (uWS SSLApp); there is no plain listener beside it.

import { createServer } from 'node:net';
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { SentioError, StartupError } from '../errors.js';
import type { Metrics } from '../metrics/index.js';
import type { Source } from '../sources/types.js';
import type { Logger } from '../log/index.js';
import { guardApp } from './guard.js';
import { send, sendError, sendJson, watchAbort } from '../http/respond.js';
import { registerDashboard } from './static.js';

export interface ServerDeps {
  /** The ways in whose routes the server serves. */
  sources: readonly Source[];
  metrics: Metrics;
  log: Logger;
  /** The gateway takes requests (false while starting and shutting down). */
  isReady: () => boolean;
  /** Resolves to undefined when healthy, else what is wrong. */
  health: () => Promise<string | undefined>;
  /** GET /readyz: each dependency writes need (store, cache, each sink's queue) and whether it takes them now; absent: ready when isReady. */
  readiness?: () => Promise<Record<string, string>>;
  /** PEM files: serve HTTPS and WSS. */
  tls?: { cert: string; key: string };
  /** Registers further routes (the API, /live) before the catch-all. */
  routes?: (app: TemplatedApp) => void;
  /** The built dashboard (default: web/dist of this package). */
  webRoot?: string;
}

export interface Server {
  app: TemplatedApp;
  port: number;
  close(): void;
}

export function createApp(deps: ServerDeps): TemplatedApp {
  const app = guardApp(deps.tls ? uWS.SSLApp({ cert_file_name: deps.tls.cert, key_file_name: deps.tls.key }) : uWS.App(), {
    threw(where, err) {
      deps.metrics.handlerError(where);
      deps.log.pino.error({ err, route: where }, `handler of ${where} threw; answered 500, the gateway keeps running`);
    },
  });
  const sourcePaths: string[] = [];
  for (const source of deps.sources) {
    for (const r of source.http ?? []) {
      app[r.method](r.path, r.handler);
      sourcePaths.push(r.path);
    }
    for (const w of source.websockets ?? []) {
      w.attach(app);
      sourcePaths.push(w.path);
    }
  }

  app.get('/healthz', function healthz(res) {
    const state = watchAbort(res);
    if (!deps.isReady()) return send(res, state, 503, 'starting\n');
    deps.health().then(
      (problem) => (problem === undefined ? send(res, state, 200, 'ok\n') : send(res, state, 503, `${problem}\n`)),
      (err: unknown) => send(res, state, 503, `${(err as Error).message}\n`),
    );
  });
  // Readiness for load balancers: 200 only when every dependency of a write takes writes now.
  app.get('/readyz', function readyz(res) {
    const state = watchAbort(res);
    if (!deps.isReady()) return sendJson(res, state, 503, { status: 'not ready', checks: { gateway: 'starting or shutting down' } });
    (deps.readiness ?? (async () => ({})))().then(
      (checks) => {
        const ok = Object.values(checks).every((c) => c === 'ok');
        sendJson(res, state, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', checks }, { 'cache-control': 'no-store' });
      },
      (err: unknown) => sendJson(res, state, 503, { status: 'not ready', checks: { gateway: (err as Error).message } }),
    );
  });
  app.get('/metrics', function metricsRoute(res) {
    const state = watchAbort(res);
    deps.metrics.exposition().then(
      (text) => send(res, state, 200, text, { 'content-type': deps.metrics.contentType }),
      (err: unknown) => send(res, state, 500, `${(err as Error).message}\n`),
    );
  });
  deps.routes?.(app);
  const notFound = function notFound(res: HttpResponse, req: HttpRequest): void {
    const state = watchAbort(res);
    const url = req.getUrl();
    const known = sourcePaths.includes(url) || ['/healthz', '/readyz', '/metrics', '/live'].includes(url);
    sendError(res, state, known ? new SentioError('SENTIO_ERR_METHOD_NOT_ALLOWED', `${req.getMethod().toUpperCase()} is not allowed on ${url}`) : new SentioError('SENTIO_ERR_NOT_FOUND', `no route ${url}`));
  };
  registerDashboard(app, deps.webRoot, notFound, (url) => sourcePaths.some((p) => url === p || url.startsWith(`${p}/`)));
  app.any('/*', notFound);
  return app;
}

/** The port could not be bound: `reason` says why in words (in use, not permitted). */
export class ListenError extends StartupError {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly reason: string,
  ) {
    super(`cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${reason}`);
    this.name = 'ListenError';
  }
}

/** Why uWS could not bind: it only says no, so ask the kernel the same question through Node's own socket. */
function whyNotListening(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve('the port is in use by another process');
      else if (err.code === 'EACCES') resolve('not permitted (ports below 1024 need privileges)');
      else if (err.code === 'EADDRNOTAVAIL') resolve('the address is not one of this machine\'s');
      else resolve(err.code ?? err.message);
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve('refused (the port may have been taken and released meanwhile)')));
  });
}

/** uSockets' listen option: bind without SO_REUSEPORT. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/**
 * Listens with the port to itself (no SO_REUSEPORT): a port another
 * process holds, even another Sentio, fails start-up instead of silently
 * splitting connections between the two.
 */
export function listen(app: TemplatedApp, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // uWS takes (host, port, options, cb); its typings know only (port, options, cb).
    const listenWith = app.listen as unknown as (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => TemplatedApp;
    listenWith.call(app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
      if (!socket) {
        void whyNotListening(host, port).then((reason) => reject(new ListenError(host, port, reason)));
        return;
      }
      resolve({
        app,
        port: uWS.us_socket_local_port(socket),
        close() {
          uWS.us_listen_socket_close(socket);
        },
      });
    });
  });
}
