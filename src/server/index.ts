// The uWebSockets.js front end: routes, listen and close. Handlers live with
// their components (src/ingest, src/api, src/live); this module only wires
// them to paths. With a certificate and key, the same port serves HTTPS and
// WSS (uWS SSLApp); there is no plain listener beside it.

import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { SentioError } from '../errors.js';
import { influxWriteHandler, pingHandler, queryHandler, type InfluxDeps } from '../ingest/influx.js';
import { registerWebSocket, type WsDeps } from '../ingest/ws.js';
import type { Metrics } from '../metrics/index.js';
import { send, sendError, watchAbort } from './http.js';
import { registerDashboard } from './static.js';

export interface ServerDeps extends InfluxDeps, WsDeps {
  metrics: Metrics;
  /** Resolves to undefined when healthy, else what is wrong. */
  health: () => Promise<string | undefined>;
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
  const app = deps.tls ? uWS.SSLApp({ cert_file_name: deps.tls.cert, key_file_name: deps.tls.key }) : uWS.App();
  app.post('/write', influxWriteHandler(deps, 'v1'));
  app.post('/api/v2/write', influxWriteHandler(deps, 'v2'));
  app.get('/ping', pingHandler);
  app.head('/ping', pingHandler);
  app.get('/query', queryHandler);
  app.post('/query', queryHandler);
  registerWebSocket(app, deps);

  app.get('/healthz', function healthz(res) {
    const state = watchAbort(res);
    if (!deps.isReady()) return send(res, state, 503, 'starting\n');
    deps.health().then(
      (problem) => (problem === undefined ? send(res, state, 200, 'ok\n') : send(res, state, 503, `${problem}\n`)),
      (err: unknown) => send(res, state, 503, `${(err as Error).message}\n`),
    );
  });
  // InfluxDB v2 clients' health check.
  app.get('/health', function influxHealth(res) {
    const state = watchAbort(res);
    send(res, state, deps.isReady() ? 200 : 503, JSON.stringify({ name: 'sentio', message: 'ready for writes', status: deps.isReady() ? 'pass' : 'fail', version: '2.7.0' }), {
      'content-type': 'application/json',
    });
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
    const known = ['/write', '/api/v2/write', '/ping', '/query', '/healthz', '/health', '/metrics', '/ws', '/live'].includes(url);
    sendError(res, state, known ? new SentioError('SENTIO_ERR_METHOD_NOT_ALLOWED', `${req.getMethod().toUpperCase()} is not allowed on ${url}`) : new SentioError('SENTIO_ERR_NOT_FOUND', `no route ${url}`));
  };
  registerDashboard(app, deps.webRoot, notFound);
  app.any('/*', notFound);
  return app;
}

export function listen(app: TemplatedApp, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket: us_listen_socket | false) => {
      if (!socket) return reject(new Error(`cannot listen on ${host}:${port} (in use or not permitted)`));
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
