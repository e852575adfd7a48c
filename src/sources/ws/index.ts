// WebSocket source: ingestion at GET /ws (docs/protocol.md has the full
// contract; ./codec.ts the framing, ./resume.ts the resume memory).
//
// - Credentials: Authorization header (Token/Bearer/Basic) or `?token=` for
//   browsers, checked on upgrade (401 before the handshake completes).
//   `?client=<id>` (1..128 of [A-Za-z0-9._:-]) names the client for resume;
//   any other value, or the key twice, is refused with 400.
// - Text frames carry line protocol; the first line may be `# seq=<n>`.
//   Binary frames carry one msgpack batch; its `seq` key is the sequence.
//   Without one, a frame's sequence is one more than the previous frame's.
// - Every frame gets exactly one JSON text reply: {"type":"ack",...} or
//   {"type":"error",...}, carrying the frame's sequence. Frames are parsed
//   concurrently, so replies may come out of order; match them by `seq`.
// - Resume (a client id and --ws-resume-window > 0): the acks of the last
//   `resumeWindow` accepted frames with an explicit seq are remembered per
//   client id. A frame whose (client, seq) is remembered is not ingested: its
//   ack is sent again with "duplicate": true. One whose (client, seq) is being
//   ingested (on any connection) waits for that copy's reply. Error replies
//   are not remembered, so a refused frame can be resent and stored. Frames
//   with an implicit seq are never deduplicated (the counter restarts with
//   each connection). Bounded: `resumeClients` ids, least recently used
//   forgotten first, each with at most `resumeWindow` seqs, oldest accepted
//   forgotten first. Per process: empty after a restart.
// - The seq of a binary frame is peeked before parsing (msgpackFrameSeq, in
//   the native core; only on resume connections and for refusals): the first
//   top-level `seq` key. A batch with a second `seq` key is refused.
// - Flow control: the frames of a connection being ingested may hold at
//   most `maxInflightBytes` (a byte window) and number at most `maxInflight`;
//   a frame that would pass either is refused (SENTIO_ERR_SLOW_DOWN with
//   retryAfterMs) without being copied or parsed. A frame always passes the
//   byte window when nothing else of its connection is in flight (its size
//   is bounded by --max-frame-bytes). Duplicates are answered
//   even then: they cost nothing. While the ingestor is overloaded, acks
//   carry "slowDown": true.
// - Slow readers: uWS drops a reply when more than `maxBackpressureBytes` of
//   replies are already waiting to be sent, and closes the connection
//   (closeOnBackpressureLimit). The client resends what was not acked.
// - A frame larger than --max-frame-bytes gets SENTIO_ERR_FRAME_TOO_LARGE
//   (counted); one larger than twice that closes the connection (uWS drops
//   it unread).

import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import type { Authenticator, Principal } from '../../auth/index.js';
import { type ErrorCode, SentioError, asSentioError } from '../../errors.js';
import type { Logger } from '../../log/index.js';
import type { Metrics } from '../../metrics/index.js';
import type { IngestResult } from '../../native/types.js';
import type { MemoryBudget } from '../../http/budget.js';
import { sendError, watchAbort } from '../../http/respond.js';
import type { IngestPort } from '../../pipeline/port.js';
import { FrontEndSource, type WebSocketRoute, webSocketRoute } from '../types.js';
import { CLIENT_ID, type Reply, frameHardCap, msgpackFrameSeq, textFrameSeq } from './codec.js';
import { ResumeMemory } from './resume.js';

export interface WsSourceDeps {
  auth: Authenticator;
  metrics: Metrics;
  maxFrameBytes: number;
  log?: Logger;
  /** Shared with HTTP writes: bytes of frames being parsed and stored at once, over all connections. */
  budget: MemoryBudget;
  /** The gateway takes writes (false while starting and shutting down). */
  isReady: () => boolean;
  /** Flow control and resume (see docs/protocol.md). */
  ws: { maxInflight: number; maxInflightBytes: number; maxBackpressureBytes: number; resumeWindow: number; resumeClients: number };
}

interface Connection {
  /** Sequence given to the next frame that does not carry its own. */
  nextSeq: number;
  closed: boolean;
  db: string | undefined;
  /** The credentials presented at upgrade: every frame is checked again (a revoked token stops writing at once). */
  authorization: string;
  query: string;
  /** The `?client=` id when resume is on, else undefined. */
  client: string | undefined;
  /** Frames of this connection being ingested, and their bytes. */
  inflight: number;
  inflightBytes: number;
}

/** Refusal of a frame beyond --ws-max-inflight or --ws-max-inflight-bytes (answered without parsing it). */
export const SLOW_DOWN: ErrorCode = 'SENTIO_ERR_SLOW_DOWN';
/** retryAfterMs of a SLOW_DOWN refusal: the connection's own frames finish in milliseconds. */
const SLOW_DOWN_RETRY_MS = 100;
/** retryAfterMs of the other load refusals when the error does not name one. */
const LOAD_RETRY_MS = 1000;
/** The reason uWebSockets.js gives when it fails a connection over a text frame that is not UTF-8. */
const UWS_INVALID_UTF8 = 'Received invalid UTF-8';
/** Frames below this size are copied into Node's buffer pool (Buffer.poolSize / 2: what Buffer.allocUnsafe pools). */
const POOLED_FRAME_BYTES = Buffer.poolSize >>> 1;
/** Close code after a frame was refused because the connection's credentials no longer pass (RFC 6455: policy violation). */
const CLOSE_POLICY = 1008;
/** Close code at shutdown (RFC 6455: going away). */
const CLOSE_GOING_AWAY = 1001;

/**
 * New connections are refused (503) and frames get SENTIO_ERR_NOT_READY while
 * stopped; disconnect() (at shutdown) ends each open connection with 1001
 * once its frames in flight are answered.
 */
export class WebSocketSource extends FrontEndSource {
  readonly name = 'ws';
  readonly protocols = ['ws'] as const;
  readonly websockets: readonly WebSocketRoute[];
  private readonly connections = new Connections();

  constructor(deps: WsSourceDeps) {
    super(deps.isReady);
    this.websockets = [webSocketRoute<Connection>('/ws', behavior(deps, this.ready, this.connections))];
  }

  disconnect(): void {
    this.connections.goAway();
  }
}

/** The open connections, so that a shutdown can end them. */
class Connections {
  private readonly open = new Set<WebSocket<Connection>>();
  private leaving = false;

  opened(ws: WebSocket<Connection>): void {
    if (this.leaving) this.end(ws, ws.getUserData());
    else this.open.add(ws);
  }

  closed(ws: WebSocket<Connection>): void {
    this.open.delete(ws);
  }

  /** From now on every connection ends as soon as it has no frame in flight. */
  goAway(): void {
    this.leaving = true;
    for (const ws of [...this.open]) this.idle(ws, ws.getUserData());
  }

  /** After a frame was answered: the connection ends if the gateway is going away and nothing else is in flight. */
  idle(ws: WebSocket<Connection>, conn: Connection): void {
    if (this.leaving && conn.inflight === 0) this.end(ws, conn);
  }

  private end(ws: WebSocket<Connection>, conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    ws.end(CLOSE_GOING_AWAY, 'the gateway is shutting down; reconnect');
  }
}

/** The /ws endpoint: `ready` is the port while the source takes frames. */
function behavior(deps: WsSourceDeps, ready: () => IngestPort | undefined, connections: Connections): WebSocketBehavior<Connection> {
  const memory = deps.ws.resumeWindow > 0 ? new ResumeMemory(deps.ws.resumeWindow, deps.ws.resumeClients) : undefined;
  const slowDownMessage = `${deps.ws.maxInflight} frames of this connection already in flight (--ws-max-inflight); resend after an ack arrives`;

  const reply = (ws: WebSocket<Connection>, message: Reply, duplicate = false): void => {
    const conn = ws.getUserData();
    if (conn.closed) return;
    let out: object = message;
    if (message.type === 'ack') {
      const slowDown = ready()?.overloaded() ?? false;
      if (duplicate || slowDown) out = { ...message, ...(duplicate ? { duplicate: true } : {}), ...(slowDown ? { slowDown: true } : {}) };
    }
    let status = 1;
    ws.cork(() => {
      status = ws.send(JSON.stringify(out), false);
    });
    // 2: dropped, more than maxBackpressure already waiting; uWS is closing the connection.
    if (status === 2) conn.closed = true;
  };

  const store = (conn: Connection, isBinary: boolean, frame: Buffer, principal: Principal | undefined): Promise<IngestResult> => {
    if (principal === undefined) return Promise.reject(new SentioError('SENTIO_ERR_UNAUTHORIZED', 'the token was revoked or has expired'));
    const port = ready();
    if (port === undefined) return Promise.reject(new SentioError('SENTIO_ERR_NOT_READY'));
    return port.writeBytes('ws', isBinary ? 'msgpack' : 'lp', frame, {
      db: conn.db,
      principal,
    });
  };

  /** Checks the credentials again, parses and stores one frame; resolves (never rejects) with its reply. */
  const ingestFrame = (conn: Connection, isBinary: boolean, frame: Buffer, seq: number): Promise<Reply> => {
    const who = deps.auth.identify(conn.authorization, conn.query);
    return (who instanceof Promise ? who.then((p) => store(conn, isBinary, frame, p)) : store(conn, isBinary, frame, who)).then(
      (r): Reply => {
        if (r.seq !== undefined) conn.nextSeq = Math.max(conn.nextSeq, r.seq + 1);
        return { type: 'ack', seq: r.seq ?? seq, lines: r.lines, accepted: r.samples, rejected: r.rejected, skipped: r.skippedStrings, errors: r.errors };
      },
      (err: unknown): Reply => {
        const e = asSentioError(err);
        deps.metrics.rejected('ws', e.code, frame.byteLength);
        // Refusals for load (queue full, rate limit, disk trouble, shutting down): the client should back off and resend.
        const retryAfterMs = typeof e.details?.retryAfterMs === 'number' ? e.details.retryAfterMs : LOAD_RETRY_MS;
        const backOff = e.status === 429 || e.status === 503 ? { retryAfterMs } : {};
        return { type: 'error', seq: typeof e.details?.seq === 'number' ? e.details.seq : seq, code: e.code, message: e.message, ...backOff };
      },
    );
  };

  return {
    // Frames up to twice --max-frame-bytes reach `message` and are refused
    // there with an error reply (counted); larger ones uWS drops by closing
    // the connection, which bounds what one frame can make it buffer.
    maxPayloadLength: frameHardCap(deps.maxFrameBytes),
    idleTimeout: 120,
    sendPingsAutomatically: true,
    // Checked before each send: with more than this already buffered, the
    // message is dropped (send returns 2) and, with closeOnBackpressureLimit,
    // the socket is shut down for reading, which closes it. The typings say
    // number; the addon reads it as an integer flag.
    maxBackpressure: deps.ws.maxBackpressureBytes,
    closeOnBackpressureLimit: 1,

    upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t) {
      const state = watchAbort(res);
      const query = req.getQuery() ?? '';
      if (ready() === undefined) return sendError(res, state, new SentioError('SENTIO_ERR_NOT_READY'));
      const authorization = req.getHeader('authorization');
      const unauthorized = (): void => {
        deps.metrics.rejected('ws', 'SENTIO_ERR_UNAUTHORIZED', 0);
        sendError(res, state, new SentioError('SENTIO_ERR_UNAUTHORIZED'));
      };
      const identified = deps.auth.identify(authorization, query);
      if (identified === undefined) return unauthorized();
      const params = new URLSearchParams(query);
      const clients = params.getAll('client');
      if (clients.length > 1 || (clients.length === 1 && !CLIENT_ID.test(clients[0]!))) {
        deps.metrics.rejected('ws', 'SENTIO_ERR_BAD_REQUEST', 0);
        return sendError(res, state, new SentioError('SENTIO_ERR_BAD_REQUEST', 'client must be one id of 1 to 128 characters A-Z a-z 0-9 . _ : -'));
      }
      const conn: Connection = { nextSeq: 1, closed: false, db: params.get('db') ?? undefined, authorization, query, client: memory ? clients[0] : undefined, inflight: 0, inflightBytes: 0 };
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      if (!(identified instanceof Promise)) return res.upgrade<Connection>(conn, key, protocol, extensions, context);
      // A device token not looked up lately: upgrade once the lookup answers (req is gone by then; its headers were copied).
      identified.then(
        (principal) => {
          if (state.aborted) return;
          if (principal === undefined) return unauthorized();
          res.cork(() => res.upgrade<Connection>(conn, key, protocol, extensions, context));
        },
        (err: unknown) => sendError(res, state, asSentioError(err)),
      );
    },

    message(ws: WebSocket<Connection>, message: ArrayBuffer, isBinary: boolean) {
      const started = performance.now();
      const conn = ws.getUserData();
      /** Replies to this frame, and observes how long it took. */
      const answer = (r: Reply, duplicate = false): void => {
        reply(ws, r, duplicate);
        deps.metrics.ingestReplied('ws', r.type === 'ack', (performance.now() - started) / 1000);
      };
      // A view of uWS's bytes, valid until this callback returns: enough to
      // read the seq, and to answer a duplicate or refuse a frame uncopied.
      const view = Buffer.from(message);
      const explicit = isBinary ? (conn.client !== undefined ? msgpackFrameSeq(view) : undefined) : textFrameSeq(view);
      const seq = explicit ?? conn.nextSeq;
      conn.nextSeq = seq + 1;
      if (view.byteLength > deps.maxFrameBytes) {
        const e = new SentioError('SENTIO_ERR_FRAME_TOO_LARGE', `frame of ${view.byteLength} bytes exceeds ${deps.maxFrameBytes} (--max-frame-bytes)`);
        deps.metrics.rejected('ws', e.code, view.byteLength);
        return answer({ type: 'error', seq, code: e.code, message: e.message });
      }

      const window = memory && conn.client !== undefined && explicit !== undefined ? memory.client(conn.client) : undefined;
      if (window) {
        const acked = window.acked.get(seq);
        if (acked) return answer(acked, true);
        const pending = window.pending.get(seq);
        if (pending) {
          const size = view.byteLength;
          pending.then((r) => {
            if (r.type === 'error') deps.metrics.rejected('ws', r.code, size);
            answer(r, r.type === 'ack');
          });
          return;
        }
      }

      /** Refuses the frame unparsed, for load: the client resends it after `retryAfterMs`. */
      const refuse = (code: ErrorCode, message: string, retryAfterMs: number): void => {
        deps.metrics.rejected('ws', code, view.byteLength);
        // A binary frame's seq is not known yet on connections without resume.
        const own = explicit ?? (isBinary ? msgpackFrameSeq(view) : undefined);
        if (own !== undefined) conn.nextSeq = Math.max(conn.nextSeq, own + 1);
        answer({ type: 'error', seq: own ?? seq, code, message, retryAfterMs });
      };
      if (conn.inflight >= deps.ws.maxInflight) return refuse(SLOW_DOWN, slowDownMessage, SLOW_DOWN_RETRY_MS);
      if (conn.inflight > 0 && conn.inflightBytes + view.byteLength > deps.ws.maxInflightBytes) {
        const held = `${conn.inflightBytes} bytes of this connection's frames already in flight; this one of ${view.byteLength} would pass ${deps.ws.maxInflightBytes} (--ws-max-inflight-bytes): resend after an ack arrives`;
        return refuse(SLOW_DOWN, held, SLOW_DOWN_RETRY_MS);
      }

      // uWS reuses `message` after this callback returns: copy it. A small
      // frame (under 4 KiB: parsed on the main thread by default) goes into
      // Node's shared pool, which saves an ArrayBuffer (and GC work) per
      // frame; a larger one into a buffer of its own, which can then move to
      // a worker without a copy. Its bytes come from the shared budget until
      // the frame is answered.
      const hold = deps.budget.hold();
      try {
        hold.take(view.byteLength);
      } catch (err) {
        const e = asSentioError(err);
        return refuse(e.code, e.message, Number(e.details?.retryAfterMs ?? LOAD_RETRY_MS));
      }
      const frame = view.byteLength < POOLED_FRAME_BYTES ? Buffer.allocUnsafe(view.byteLength) : Buffer.allocUnsafeSlow(view.byteLength);
      frame.set(view);
      conn.inflight++;
      conn.inflightBytes += frame.byteLength;
      const result = ingestFrame(conn, isBinary, frame, seq);
      window?.pending.set(seq, result);
      result.then((r) => {
        hold.release();
        conn.inflight--;
        conn.inflightBytes -= frame.byteLength;
        if (window) {
          window.pending.delete(seq);
          // r.seq is the frame's own (a batch with a second `seq` key is refused).
          if (r.type === 'ack' && r.seq === seq) window.remember(r);
        }
        answer(r);
        // Credentials that no longer pass (a revoked or expired device token): the connection ends after telling why.
        if (r.type === 'error' && r.code === 'SENTIO_ERR_UNAUTHORIZED' && !conn.closed) {
          conn.closed = true;
          ws.end(CLOSE_POLICY, 'credentials revoked or expired');
        }
        connections.idle(ws, conn);
      });
    },

    open(ws: WebSocket<Connection>) {
      connections.opened(ws);
    },

    close(ws: WebSocket<Connection>, code: number, message: ArrayBuffer) {
      const conn = ws.getUserData();
      conn.closed = true;
      connections.closed(ws);
      // uWS fails a connection whose text frame is not UTF-8 itself, before any handler sees the
      // frame: the TCP connection is closed (1006), no reply or close frame can be sent.
      const reason = code === 1006 && Buffer.from(message).toString('latin1') === UWS_INVALID_UTF8 ? 'invalid_utf8' : String(code);
      deps.metrics.wsClosed(reason);
      if (reason === 'invalid_utf8') {
        deps.log?.warn(`WebSocket connection failed by a text frame that is not UTF-8 (RFC 6455 §8.1); ${conn.inflight} earlier frames in flight are stored but their acks cannot be sent`);
      }
    },
  };
}
