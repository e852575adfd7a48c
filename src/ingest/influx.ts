// InfluxDB-compatible HTTP write API, so Telegraf and the official client
// libraries can point at Sentio unchanged.
//
//   POST /write?db=&precision=n|u|ms|s|m|h   (v1; auth by Basic, ?u=&p=, Token or Bearer)
//   POST /api/v2/write?org=&bucket=&precision=ns|us|ms|s   (v2; Authorization: Token ...)
//   Content-Encoding: gzip|deflate|identity; Content-Type application/msgpack
//   selects the msgpack batch format (docs/protocol.md), anything else is
//   line protocol.
//
// Answers follow InfluxDB: 204 when every line was accepted; 400 with a JSON
// body listing the rejected lines (capped by --max-errors) when some were
// not, the good lines still written. As VictoriaMetrics does, `db` becomes
// a `db` label and the v2 `org` and `bucket` are accepted but not labels,
// so series are the same as when writing to VictoriaMetrics directly.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Authenticator } from '../auth/index.js';
import { SentioError, asSentioError } from '../errors.js';
import type { Format, Metrics, Protocol } from '../metrics/index.js';
import { type BodyLimits, decodeBody, readBody } from '../server/body.js';
import type { MemoryBudget } from '../server/budget.js';
import { send, sendError, sendJson, watchAbort } from '../server/http.js';
import { type Ingestor, parsePrecision } from './index.js';

export interface InfluxDeps {
  ingestor: Ingestor;
  auth: Authenticator;
  metrics: Metrics;
  limits: BodyLimits;
  /** Bytes of write requests held at once, over all of them (--max-inflight-body-bytes). */
  budget: MemoryBudget;
  isReady: () => boolean;
}

function formatOf(contentType: string): Format {
  return /^application\/(x-)?msgpack\b/i.test(contentType) ? 'msgpack' : 'lp';
}

export function influxWriteHandler(deps: InfluxDeps, version: 'v1' | 'v2') {
  const protocol: Protocol = version === 'v1' ? 'influx_v1' : 'influx_v2';
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
    if (!deps.isReady()) return fail(new SentioError('SENTIO_ERR_NOT_READY'));
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
          deps.ingestor.ingest(protocol, format, body, { precision, db, principal }),
        );
      })
      .then(
        (result) => {
          replied(true);
          if (result.rejected === 0) return send(res, state, 204);
          const message = `partial write: ${result.rejected} of ${result.lines} points rejected`;
          sendJson(res, state, 400, {
            code: 'SENTIO_ERR_PARTIAL_WRITE',
            message,
            error: message,
            accepted: result.samples,
            rejected: result.rejected,
            errors: result.errors,
          });
        },
        (err: unknown) => fail(asSentioError(err), received),
      )
      // Not before the body stopped arriving (a refusal can come first), so nothing is taken after the release.
      .finally(() => reading.then(() => hold.release(), () => hold.release()));
  };
}

/** GET|HEAD /ping: the health check InfluxDB clients and Telegraf call. */
export function pingHandler(res: HttpResponse): void {
  res.cork(() => {
    res.writeStatus('204 No Content').writeHeader('X-Influxdb-Version', '1.8.10').writeHeader('X-Influxdb-Build', 'OSS').endWithoutBody();
  });
}

/**
 * /query: answers `CREATE DATABASE` as a no-op success, as VictoriaMetrics
 * does, so Telegraf's start-up succeeds. Other InfluxQL is not supported.
 */
export function queryHandler(res: HttpResponse, req: HttpRequest): void {
  const state = watchAbort(res);
  const method = req.getMethod();
  const query = req.getQuery() ?? '';
  const contentType = req.getHeader('content-type');
  const answer = (q: string): void => {
    if (/^\s*create\s+database\b/i.test(q)) return sendJson(res, state, 200, { results: [{ statement_id: 0 }] });
    sendError(res, state, new SentioError('SENTIO_ERR_BAD_REQUEST', 'only CREATE DATABASE is supported on /query (a no-op); query data with PromQL'));
  };
  const fromQuery = new URLSearchParams(query).get('q');
  if (method !== 'post' || fromQuery !== null || !/x-www-form-urlencoded/i.test(contentType)) return answer(fromQuery ?? '');
  readBody(res, req.getHeader('content-length'), 1 << 20).then(
    (body) => answer(new URLSearchParams(body.toString('utf8')).get('q') ?? ''),
    (err: unknown) => sendError(res, state, asSentioError(err)),
  );
}
