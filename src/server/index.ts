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

/** Whether the kernel lets Node's own socket (no SO_REUSEPORT) bind host:port; if not, why, in words. */
function bindProblem(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve('the port is in use by another process');
      else if (err.code === 'EACCES') resolve('not permitted (ports below 1024 need privileges)');
      else if (err.code === 'EADDRNOTAVAIL') resolve('the address is not one of this machine\'s');
      else resolve(err.code ?? err.message);
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

/** A port the kernel gives Node's own socket for `host`, released again. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(host, 0, err.code ?? err.message)));
    probe.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Listen sockets per address. uSockets gives each an accept queue of 512,
 * and 10,000 devices reconnecting after a restart overflowed one: the
 * kernel dropped 40,000 SYNs, and each dropped client waited 1, 3 or 7 s
 * to try again. With SO_REUSEPORT the kernel spreads new connections over
 * all of them (8 × 512: net.core.somaxconn's default of 4,096).
 */
export const LISTEN_SOCKETS = 8;

/** uWS takes (host, port, options, cb); its typings know only (port, options, cb). options 0: SO_REUSEPORT. */
function listenOnce(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  const listenWith = app.listen as unknown as (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => TemplatedApp;
  return new Promise((resolve, reject) => {
    listenWith.call(app, host, port, 0, (socket) => {
      if (socket) return resolve(socket);
      void bindProblem(host, port).then((reason) => reject(new ListenError(host, port, reason ?? 'refused (the port may have been taken and released meanwhile)')));
    });
  });
}

/**
 * Listens on LISTEN_SOCKETS sockets sharing the port (SO_REUSEPORT), after
 * checking that no other socket holds it: a port another process holds,
 * even another Sentio, fails start-up instead of silently splitting
 * connections between the two.
 */
export async function listen(app: TemplatedApp, host: string, port: number): Promise<Server> {
  // uSockets sets SO_REUSEPORT only on a given port: port 0 becomes a free one first.
  const bound = port === 0 ? await freePort(host) : port;
  const problem = port === 0 ? undefined : await bindProblem(host, port);
  if (problem !== undefined) throw new ListenError(host, port, problem);
  const sockets: us_listen_socket[] = [];
  try {
    while (sockets.length < LISTEN_SOCKETS) sockets.push(await listenOnce(app, host, bound));
  } catch (err) {
    for (const s of sockets) uWS.us_listen_socket_close(s);
    throw err;
  }
  return {
    app,
    port: bound,
    close() {
      for (const s of sockets) uWS.us_listen_socket_close(s);
    },
  };
}
