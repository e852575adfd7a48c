// InfluxDB-compatible HTTP write API, so Telegraf and the official client
// libraries can point at Sentio unchanged.
//
//   POST /write?db=&precision=n|u|ms|s|m|h   (v1; auth by Basic, ?u=&p=, Token or Bearer)
//   POST /api/v2/write?org=&bucket=&precision=ns|us|ms|s   (v2; Authorization: Token ...)
//   Content-Encoding: gzip|deflate|identity; Content-Type application/msgpack
//   selects the msgpack batch format (docs/protocol.md), anything else is
//   line protocol.
//
//   GET|HEAD /ping, GET|POST /query (CREATE DATABASE only), GET /health:
//   what Telegraf and the v2 clients call before they write.
//
// Answers follow InfluxDB: 204 when every line was accepted; 400 with a JSON
// body listing the rejected lines (capped by --max-errors) when some were
// not, the good lines still written. As VictoriaMetrics does, `db` becomes
// a `db` label and the v2 `org` and `bucket` are accepted but not labels,
// so series are the same as when writing to VictoriaMetrics directly.
// Bodies are counted as they arrive (never trusting Content-Length) and
// after decompression, and held in the shared memory budget (src/http).

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Authenticator } from '../../auth/index.js';
import { SentioError, asSentioError } from '../../errors.js';
import type { Metrics } from '../../metrics/index.js';
import { type BodyLimits, decodeBody, readBody } from '../../http/body.js';
import type { MemoryBudget } from '../../http/budget.js';
import { send, sendError, sendJson, watchAbort } from '../../http/respond.js';
import type { IngestPort } from '../../pipeline/port.js';
import { FrontEndSource, type HttpRoute } from '../types.js';
import { formatOf, isCreateDatabase, parsePrecision, partialWrite } from './codec.js';

export interface InfluxSourceDeps {
  auth: Authenticator;
  metrics: Metrics;
  limits: BodyLimits;
  /** Bytes of write requests held at once, over all of them (--max-inflight-body-bytes). */
  budget: MemoryBudget;
  /** The gateway takes writes (false while starting and shutting down). */
  isReady: () => boolean;
}

export class InfluxSource extends FrontEndSource {
  readonly name = 'influx';
  readonly protocols = ['influx_v1', 'influx_v2'] as const;
  readonly http: readonly HttpRoute[];

  constructor(deps: InfluxSourceDeps) {
    super(deps.isReady);
    const ready = this.ready;
    this.http = [
      { method: 'post', path: '/write', handler: writeHandler(deps, 'v1', ready) },
      { method: 'post', path: '/api/v2/write', handler: writeHandler(deps, 'v2', ready) },
      { method: 'get', path: '/ping', handler: pingHandler },
      { method: 'head', path: '/ping', handler: pingHandler },
      { method: 'get', path: '/query', handler: queryHandler },
      { method: 'post', path: '/query', handler: queryHandler },
      { method: 'get', path: '/health', handler: (res) => healthHandler(res, ready() !== undefined) },
    ];
  }
}

function writeHandler(deps: InfluxSourceDeps, version: 'v1' | 'v2', ready: () => IngestPort | undefined) {
  const protocol = version === 'v1' ? 'influx_v1' : 'influx_v2';
  return function influxWrite(res: HttpResponse, req: HttpRequest): void {
    const started = performance.now();
    const state = watchAbort(res);
    // Everything from `req` must be read before the first await.
    const authorization = req.getHeader('authorization');
    const query = req.getQuery() ?? '';
    const contentEncoding = req.getHeader('content-encoding');
    const contentLength = req.getHeader('content-length');
    const format = formatOf(req.getHeader('content-type'));

    const replied = (ok: boolean): void => deps.metrics.ingestReplied(protocol, ok, (performance.now() - started) / 1000);
    const fail = (err: SentioError, bytes = 0): void => {
      deps.metrics.rejected(protocol, err.code, bytes);
      sendError(res, state, err);
      replied(false);
    };
    const port = ready();
    if (port === undefined) return fail(new SentioError('SENTIO_ERR_NOT_READY'));
    const identified = deps.auth.identify(authorization, query);
    if (identified === undefined) return fail(new SentioError('SENTIO_ERR_UNAUTHORIZED'));
    const params = new URLSearchParams(query);
    let precision;
    try {
      precision = parsePrecision(params.get('precision'), version);
    } catch (err) {
      return fail(asSentioError(err));
    }
    const db = params.get('db') ?? undefined;

    let received = 0;
    // The request's bytes come from the shared budget, and go back once it is answered and its batch is stored or refused.
    const hold = deps.budget.hold();
    const reading = readBody(res, contentLength, deps.limits.maxBodyBytes, hold, state);
    // The body is read while a device token not seen lately is looked up.
    Promise.all([reading, identified])
      .then(([raw, principal]) => {
        received = raw.byteLength;
        if (principal === undefined) throw new SentioError('SENTIO_ERR_UNAUTHORIZED');
        return decodeBody(raw, contentEncoding, deps.limits, hold).then((body) =>
          port.writeBytes(protocol, format, body, { precision, db, principal }),
        );
      })
      .then(
        (result) => {
          replied(true);
          if (result.rejected === 0) return send(res, state, 204);
          sendJson(res, state, 400, partialWrite(result));
        },
        (err: unknown) => fail(asSentioError(err), received),
      )
      // Not before the body stopped arriving (a refusal can come first), so nothing is taken after the release.
      .finally(() => reading.then(() => hold.release(), () => hold.release()));
  };
}

/** GET|HEAD /ping: the health check InfluxDB clients and Telegraf call. */
function pingHandler(res: HttpResponse): void {
  res.cork(() => {
    res.writeStatus('204 No Content').writeHeader('X-Influxdb-Version', '1.8.10').writeHeader('X-Influxdb-Build', 'OSS').endWithoutBody();
  });
}

/** GET /health: InfluxDB v2 clients' health check. */
function healthHandler(res: HttpResponse, ready: boolean): void {
  const state = watchAbort(res);
  send(res, state, ready ? 200 : 503, JSON.stringify({ name: 'sentio', message: 'ready for writes', status: ready ? 'pass' : 'fail', version: '2.7.0' }), {
    'content-type': 'application/json',
  });
}

/**
 * /query: answers `CREATE DATABASE` as a no-op success, as VictoriaMetrics
 * does, so Telegraf's start-up succeeds. Other InfluxQL is not supported.
 */
function queryHandler(res: HttpResponse, req: HttpRequest): void {
  const state = watchAbort(res);
  const method = req.getMethod();
  const query = req.getQuery() ?? '';
  const contentType = req.getHeader('content-type');
  const answer = (q: string): void => {
    if (isCreateDatabase(q)) return sendJson(res, state, 200, { results: [{ statement_id: 0 }] });
    sendError(res, state, new SentioError('SENTIO_ERR_BAD_REQUEST', 'only CREATE DATABASE is supported on /query (a no-op); query data with PromQL'));
  };
  const fromQuery = new URLSearchParams(query).get('q');
  if (method !== 'post' || fromQuery !== null || !/x-www-form-urlencoded/i.test(contentType)) return answer(fromQuery ?? '');
  readBody(res, req.getHeader('content-length'), 1 << 20).then(
    (body) => answer(new URLSearchParams(body.toString('utf8')).get('q') ?? ''),
    (err: unknown) => sendError(res, state, asSentioError(err)),
  );
}
