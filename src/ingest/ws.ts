// WebSocket ingestion at GET /ws (docs/protocol.md has the full contract).
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
// - The seq of a binary frame is peeked before parsing (msgpackFrameSeq,
//   only on resume connections and for refusals): the first top-level `seq`
//   key. The core keeps the last one; a batch whose parsed seq differs (a
//   repeated key) is acknowledged but not remembered.
// - Flow control: at most `maxInflight` frames of a connection are ingested
//   at once; a frame beyond that is refused (SENTIO_ERR_SLOW_DOWN with
//   retryAfterMs) without being copied or parsed. Duplicates are answered
//   even then: they cost nothing. While the ingestor is overloaded, acks
//   carry "slowDown": true.
// - Slow readers: uWS drops a reply when more than `maxBackpressureBytes` of
//   replies are already waiting to be sent, and closes the connection
//   (closeOnBackpressureLimit). The client resends what was not acked.
// - A frame larger than --max-frame-bytes gets SENTIO_ERR_FRAME_TOO_LARGE
//   (counted); one larger than twice that closes the connection (uWS drops
//   it unread).

import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Authenticator, Principal } from '../auth/index.js';
import { type ErrorCode, SentioError, asSentioError } from '../errors.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { IngestResult, LineError } from '../native/types.js';
import type { MemoryBudget } from '../server/budget.js';
import { sendError, watchAbort } from '../server/http.js';
import type { Ingestor } from './index.js';

export interface WsDeps {
  ingestor: Ingestor;
  auth: Authenticator;
  metrics: Metrics;
  maxFrameBytes: number;
  log?: Logger;
  /** Shared with HTTP writes: bytes of frames being parsed and stored at once, over all connections. */
  budget: MemoryBudget;
  isReady: () => boolean;
  /** Flow control and resume (see docs/protocol.md). */
  ws: { maxInflight: number; maxBackpressureBytes: number; resumeWindow: number; resumeClients: number };
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
  /** Frames of this connection being ingested. */
  inflight: number;
}

interface AckReply {
  type: 'ack';
  seq: number;
  lines: number;
  accepted: number;
  rejected: number;
  skipped: number;
  errors: LineError[];
}

interface ErrorReply {
  type: 'error';
  seq: number;
  code: string;
  message: string;
  retryAfterMs?: number;
}

type Reply = AckReply | ErrorReply;

/** Refusal of a frame beyond --ws-max-inflight (answered without parsing it). */
export const SLOW_DOWN: ErrorCode = 'SENTIO_ERR_SLOW_DOWN';
/** retryAfterMs of a SLOW_DOWN refusal: the connection's own frames finish in milliseconds. */
const SLOW_DOWN_RETRY_MS = 100;
/** retryAfterMs of the other load refusals when the error does not name one. */
const LOAD_RETRY_MS = 1000;
/** The reason uWebSockets.js gives when it fails a connection over a text frame that is not UTF-8. */
const UWS_INVALID_UTF8 = 'Received invalid UTF-8';
/** Close code after a frame was refused because the connection's credentials no longer pass (RFC 6455: policy violation). */
const CLOSE_POLICY = 1008;

/** uWS's own frame limit: twice --max-frame-bytes (frames between are refused with a reply), capped at 2 GiB. */
export function frameHardCap(maxFrameBytes: number): number {
  return Math.min(2 * maxFrameBytes, 2 ** 31 - 1);
}

const SEQ_LINE = /^#\s*seq=(\d{1,15})\s*$/;
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The `# seq=<n>` first line of a text frame, if it has one. */
export function textFrameSeq(frame: Buffer): number | undefined {
  if (frame[0] !== 0x23 /* # */) return undefined;
  let end = frame.indexOf(0x0a);
  if (end < 0) end = frame.byteLength;
  const m = SEQ_LINE.exec(frame.toString('latin1', 0, Math.min(end, 64)).replace(/\r$/, ''));
  return m ? Number(m[1]) : undefined;
}

/**
 * The `seq` of a msgpack batch, read without decoding the batch: the value of
 * the first top-level `seq` key, if it is an integer in 0..2^53-1. Undefined
 * when there is none, or the frame is not a map with string keys up to it.
 * Keys before `seq` are skipped item by item (strings and binaries by their
 * length), so this is cheap when `seq` comes first and linear in the number of
 * items before it otherwise; it never reads past the frame.
 */
export function msgpackFrameSeq(frame: Buffer): number | undefined {
  try {
    const c = { pos: 0 };
    const keys = mapLength(frame, c);
    if (keys === undefined) return undefined;
    for (let i = 0; i < keys; i++) {
      const key = stringSpan(frame, c);
      if (key === undefined) return undefined;
      if (key.end - key.start === 3 && frame[key.start] === 0x73 && frame[key.start + 1] === 0x65 && frame[key.start + 2] === 0x71) {
        return unsignedInt(frame, c); // "seq"
      }
      skipValue(frame, c);
    }
    return undefined;
  } catch {
    return undefined; // truncated: Buffer reads past the end throw RangeError
  }
}

interface Cursor {
  pos: number;
}

function mapLength(b: Buffer, c: Cursor): number | undefined {
  const m = b[c.pos++];
  if (m === undefined) return undefined;
  if (m >= 0x80 && m <= 0x8f) return m & 0x0f;
  if (m === 0xde) return readLength(b, c, 2);
  if (m === 0xdf) return readLength(b, c, 4);
  return undefined;
}

function stringSpan(b: Buffer, c: Cursor): { start: number; end: number } | undefined {
  const m = b[c.pos++];
  let len: number;
  if (m === undefined) return undefined;
  if (m >= 0xa0 && m <= 0xbf) len = m & 0x1f;
  else if (m === 0xd9) len = readLength(b, c, 1);
  else if (m === 0xda) len = readLength(b, c, 2);
  else if (m === 0xdb) len = readLength(b, c, 4);
  else return undefined;
  const start = c.pos;
  c.pos += len;
  return c.pos <= b.length ? { start, end: c.pos } : undefined;
}

/** A big-endian unsigned length of `width` bytes (throws RangeError past the end). */
function readLength(b: Buffer, c: Cursor, width: 1 | 2 | 4): number {
  const n = b.readUIntBE(c.pos, width);
  c.pos += width;
  return n;
}

function unsignedInt(b: Buffer, c: Cursor): number | undefined {
  const m = b[c.pos++];
  if (m === undefined) return undefined;
  if (m <= 0x7f) return m;
  let v: number | bigint;
  switch (m) {
    case 0xcc: v = b.readUInt8(c.pos); break;
    case 0xcd: v = b.readUInt16BE(c.pos); break;
    case 0xce: v = b.readUInt32BE(c.pos); break;
    case 0xcf: v = b.readBigUInt64BE(c.pos); break;
    case 0xd0: v = b.readInt8(c.pos); break;
    case 0xd1: v = b.readInt16BE(c.pos); break;
    case 0xd2: v = b.readInt32BE(c.pos); break;
    case 0xd3: v = b.readBigInt64BE(c.pos); break;
    default: return undefined; // negative fixint, float, or not a number
  }
  return v >= 0 && v <= Number.MAX_SAFE_INTEGER ? Number(v) : undefined;
}

/** Moves past a length of `width` bytes and the `extra` + length bytes after it. */
function skipSized(b: Buffer, c: Cursor, width: 1 | 2 | 4, extra: number): void {
  const n = readLength(b, c, width);
  c.pos += extra + n;
}

/** Moves past one msgpack value, containers included, without recursion. */
function skipValue(b: Buffer, c: Cursor): void {
  let items = 1;
  while (items > 0) {
    items--;
    const m = b[c.pos++];
    if (m === undefined) throw new RangeError('truncated');
    if (m <= 0x7f || m >= 0xe0 || m === 0xc0 || m === 0xc2 || m === 0xc3) continue; // fixint, nil, bool
    if (m <= 0x8f) items += 2 * (m & 0x0f); // fixmap
    else if (m <= 0x9f) items += m & 0x0f; // fixarray
    else if (m <= 0xbf) c.pos += m & 0x1f; // fixstr
    else {
      switch (m) {
        case 0xc4: case 0xd9: skipSized(b, c, 1, 0); break; // bin8, str8
        case 0xc5: case 0xda: skipSized(b, c, 2, 0); break; // bin16, str16
        case 0xc6: case 0xdb: skipSized(b, c, 4, 0); break; // bin32, str32
        case 0xc7: skipSized(b, c, 1, 1); break; // ext8: length, type, data
        case 0xc8: skipSized(b, c, 2, 1); break; // ext16
        case 0xc9: skipSized(b, c, 4, 1); break; // ext32
        case 0xcc: case 0xd0: c.pos += 1; break; // uint8, int8
        case 0xcd: case 0xd1: c.pos += 2; break;
        case 0xca: case 0xce: case 0xd2: c.pos += 4; break; // float32, uint32, int32
        case 0xcb: case 0xcf: case 0xd3: c.pos += 8; break;
        case 0xd4: c.pos += 2; break; // fixext1..16: type, data
        case 0xd5: c.pos += 3; break;
        case 0xd6: c.pos += 5; break;
        case 0xd7: c.pos += 9; break;
        case 0xd8: c.pos += 17; break;
        case 0xdc: items += readLength(b, c, 2); break; // array16
        case 0xdd: items += readLength(b, c, 4); break; // array32
        case 0xde: items += 2 * readLength(b, c, 2); break; // map16
        case 0xdf: items += 2 * readLength(b, c, 4); break; // map32
        default: throw new RangeError('reserved msgpack marker 0xc1');
      }
    }
    if (c.pos > b.length) throw new RangeError('truncated');
  }
}

/** What resume remembers about one client id. */
class ClientWindow {
  /** Acks of accepted frames by seq, oldest accepted first. */
  readonly acked = new Map<number, AckReply>();
  /** Replies of the frames being ingested, by seq. */
  readonly pending = new Map<number, Promise<Reply>>();

  constructor(private readonly size: number) {}

  remember(ack: AckReply): void {
    this.acked.delete(ack.seq);
    this.acked.set(ack.seq, ack);
    if (this.acked.size > this.size) {
      const oldest = this.acked.keys().next();
      if (!oldest.done) this.acked.delete(oldest.value);
    }
  }
}

/**
 * Resume memory: a window per client id, for at most `maxClients` ids. A Map
 * iterates in insertion order, so re-inserting an id on use keeps the least
 * recently used first (and a window's oldest ack first).
 */
export class ResumeMemory {
  private readonly clients = new Map<string, ClientWindow>();

  constructor(
    private readonly window: number,
    private readonly maxClients: number,
  ) {}

  /** The client's window, now the most recently used; a new one forgets the least recently used id if full. */
  client(id: string): ClientWindow {
    let w = this.clients.get(id);
    if (w !== undefined) {
      this.clients.delete(id);
    } else {
      w = new ClientWindow(this.window);
      if (this.clients.size >= this.maxClients) {
        const oldest = this.clients.keys().next();
        if (!oldest.done) this.clients.delete(oldest.value);
      }
    }
    this.clients.set(id, w);
    return w;
  }
}

export function registerWebSocket(app: TemplatedApp, deps: WsDeps): void {
  const memory = deps.ws.resumeWindow > 0 ? new ResumeMemory(deps.ws.resumeWindow, deps.ws.resumeClients) : undefined;
  const slowDownMessage = `${deps.ws.maxInflight} frames of this connection already in flight (--ws-max-inflight); resend after an ack arrives`;

  const reply = (ws: WebSocket<Connection>, message: Reply, duplicate = false): void => {
    const conn = ws.getUserData();
    if (conn.closed) return;
    let out: object = message;
    if (message.type === 'ack') {
      const slowDown = deps.ingestor.overloaded();
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
    return deps.ingestor.ingest('ws', isBinary ? 'msgpack' : 'lp', frame, {
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

  app.ws<Connection>('/ws', {
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
      if (!deps.isReady()) return sendError(res, state, new SentioError('SENTIO_ERR_NOT_READY'));
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
      const conn: Connection = { nextSeq: 1, closed: false, db: params.get('db') ?? undefined, authorization, query, client: memory ? clients[0] : undefined, inflight: 0 };
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

      // uWS reuses `message` after this callback returns: copy it into a
      // buffer of its own, which then moves to a worker without a copy. Its
      // bytes come from the shared budget until the frame is answered.
      const hold = deps.budget.hold();
      try {
        hold.take(view.byteLength);
      } catch (err) {
        const e = asSentioError(err);
        return refuse(e.code, e.message, Number(e.details?.retryAfterMs ?? LOAD_RETRY_MS));
      }
      const frame = Buffer.allocUnsafeSlow(view.byteLength);
      frame.set(view);
      conn.inflight++;
      const result = ingestFrame(conn, isBinary, frame, seq);
      window?.pending.set(seq, result);
      result.then((r) => {
        hold.release();
        conn.inflight--;
        if (window) {
          window.pending.delete(seq);
          // r.seq differs only for a batch with a repeated `seq` key: not remembered.
          if (r.type === 'ack' && r.seq === seq) window.remember(r);
        }
        answer(r);
        // Credentials that no longer pass (a revoked or expired device token): the connection ends after telling why.
        if (r.type === 'error' && r.code === 'SENTIO_ERR_UNAUTHORIZED' && !conn.closed) {
          conn.closed = true;
          ws.end(CLOSE_POLICY, 'credentials revoked or expired');
        }
      });
    },

    close(ws: WebSocket<Connection>, code: number, message: ArrayBuffer) {
      const conn = ws.getUserData();
      conn.closed = true;
      // uWS fails a connection whose text frame is not UTF-8 itself, before any handler sees the
      // frame: the TCP connection is closed (1006), no reply or close frame can be sent.
      const reason = code === 1006 && Buffer.from(message).toString('latin1') === UWS_INVALID_UTF8 ? 'invalid_utf8' : String(code);
      deps.metrics.wsClosed(reason);
      if (reason === 'invalid_utf8') {
        deps.log?.warn(`WebSocket connection failed by a text frame that is not UTF-8 (RFC 6455 §8.1); ${conn.inflight} earlier frames in flight are stored but their acks cannot be sent`);
      }
    },
  });
}
