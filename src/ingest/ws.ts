// WebSocket ingestion at GET /ws (docs/protocol.md has the full contract).
//
// - Credentials: Authorization header (Token/Bearer/Basic) or `?token=` for
//   browsers, checked on upgrade (401 before the handshake completes).
// - Text frames carry line protocol; the first line may be `# seq=<n>`.
//   Binary frames carry one msgpack batch; its `seq` key is the sequence.
//   Without one, a frame's sequence is one more than the previous frame's.
// - Every frame gets exactly one JSON text reply: {"type":"ack",...} or
//   {"type":"error",...}, carrying the frame's sequence. Frames are parsed
//   concurrently, so replies may come out of order; match them by `seq`.
// - A frame larger than --max-frame-bytes closes the connection (uWS drops
//   it unread).

import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Authenticator } from '../auth/index.js';
import { SentioError, asSentioError } from '../errors.js';
import type { Metrics } from '../metrics/index.js';
import { sendError, watchAbort } from '../server/http.js';
import type { Ingestor } from './index.js';

export interface WsDeps {
  ingestor: Ingestor;
  auth: Authenticator;
  metrics: Metrics;
  maxFrameBytes: number;
  isReady: () => boolean;
}

interface Connection {
  /** Sequence given to the next frame that does not carry its own. */
  nextSeq: number;
  closed: boolean;
  db: string | undefined;
}

const SEQ_LINE = /^#\s*seq=(\d{1,15})\s*$/;

/** The `# seq=<n>` first line of a text frame, if it has one. */
export function textFrameSeq(frame: Buffer): number | undefined {
  if (frame[0] !== 0x23 /* # */) return undefined;
  let end = frame.indexOf(0x0a);
  if (end < 0) end = frame.byteLength;
  const m = SEQ_LINE.exec(frame.toString('latin1', 0, Math.min(end, 64)).replace(/\r$/, ''));
  return m ? Number(m[1]) : undefined;
}

export function registerWebSocket(app: TemplatedApp, deps: WsDeps): void {
  const reply = (ws: WebSocket<Connection>, message: unknown): void => {
    const conn = ws.getUserData();
    if (conn.closed) return;
    ws.cork(() => ws.send(JSON.stringify(message), false));
  };

  app.ws<Connection>('/ws', {
    maxPayloadLength: deps.maxFrameBytes,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    maxBackpressure: 64 * 1024 * 1024,

    upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t) {
      const state = watchAbort(res);
      const query = req.getQuery() ?? '';
      if (!deps.isReady()) return sendError(res, state, new SentioError('SENTIO_ERR_NOT_READY'));
      if (!deps.auth.check(req.getHeader('authorization'), query)) {
        deps.metrics.rejected('ws', 'SENTIO_ERR_UNAUTHORIZED', 0);
        return sendError(res, state, new SentioError('SENTIO_ERR_UNAUTHORIZED'));
      }
      const db = new URLSearchParams(query).get('db') ?? undefined;
      res.upgrade<Connection>(
        { nextSeq: 1, closed: false, db },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },

    message(ws: WebSocket<Connection>, message: ArrayBuffer, isBinary: boolean) {
      const conn = ws.getUserData();
      // uWS reuses `message` after this callback returns: copy it into a
      // buffer of its own, which then moves to a worker without a copy.
      const size = message.byteLength;
      const frame = Buffer.allocUnsafeSlow(size);
      frame.set(new Uint8Array(message));
      const format = isBinary ? 'msgpack' : 'lp';
      const explicit = isBinary ? undefined : textFrameSeq(frame);
      const implicitSeq = explicit ?? conn.nextSeq;
      conn.nextSeq = implicitSeq + 1;

      deps.ingestor.ingest('ws', format, frame, { db: conn.db }).then(
        (r) => {
          const seq = r.seq ?? implicitSeq;
          if (r.seq !== undefined) conn.nextSeq = Math.max(conn.nextSeq, r.seq + 1);
          reply(ws, {
            type: 'ack',
            seq,
            lines: r.lines,
            accepted: r.samples,
            rejected: r.rejected,
            skipped: r.skippedStrings,
            errors: r.errors,
          });
        },
        (err: unknown) => {
          const e = asSentioError(err);
          deps.metrics.rejected('ws', e.code, size);
          const seq = typeof e.details?.seq === 'number' ? e.details.seq : implicitSeq;
          reply(ws, { type: 'error', seq, code: e.code, message: e.message });
        },
      );
    },

    close(ws: WebSocket<Connection>) {
      ws.getUserData().closed = true;
    },
  });
}
