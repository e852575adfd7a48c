// A client of Home Assistant's WebSocket API (`/api/websocket`), one
// connection per instance:
//
//   server: {type: "auth_required"}
//   client: {type: "auth", access_token}
//   server: {type: "auth_ok"} | {type: "auth_invalid", message} (and closes)
//   client: {id, type: "subscribe_events", event_type} → {id, type: "result", success, result | error}
//   server: {id, type: "event", event: {event_type, data, ...}} for each event, id the subscription's
//   client: {id, type: "ping"} → {id, type: "pong"}
//
// - Commands carry increasing ids; each resolves with its result or rejects
//   with a CommandError ({code, message} of HA), or when the connection ends.
// - A frame may hold an array of messages (HA's coalesced messages); both
//   shapes are read. A frame that is not JSON, or a message of no known
//   shape, goes to `onUnparseable`, never thrown.
// - Liveness: a ping every `pingIntervalMs`; a connection whose previous
//   ping is still unanswered when the next one is due is dead, and is
//   terminated (a silent peer, a half-open TCP connection).
//   HA's own WebSocket-level pings (aiohttp's heartbeat, every 55 s) are
//   answered by the ws library.
// - open() resolves once authenticated, and rejects with AuthRefused when HA
//   refuses the token, or with an Error when it cannot be reached or does not
//   answer within `timeoutMs`. The token is never in an error or log line.

import WebSocket from 'ws';

export class AuthRefused extends Error {}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: string,
    message: string,
  ) {
    super(`${command}: ${code}: ${message}`);
  }
}

export interface HaEvent {
  event_type: string;
  data: unknown;
}

export interface HaSocketOptions {
  /** ws:// or wss:// URL of /api/websocket. */
  url: string;
  token: string;
  ca?: string | undefined;
  rejectUnauthorized?: boolean | undefined;
  pingIntervalMs: number;
  /** For the handshake and authentication, and each command. */
  timeoutMs?: number;
  /** A frame or message that could not be read. */
  onUnparseable(reason: string): void;
  /** The connection ended (once, after open() resolved or rejected); `reason` says why. */
  onClose(reason: string): void;
}

interface Pending {
  command: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** The most a frame may hold (a get_states of a large instance is a few MB). */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export class HaSocket {
  private ws: WebSocket | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<number, (e: HaEvent) => void>();
  private pingTimer: NodeJS.Timeout | undefined;
  private unanswered: number | undefined;
  private closed = false;
  private closeReason = 'closed';
  private readonly timeoutMs: number;
  /** HA's version, once authenticated. */
  haVersion: string | undefined;
  /** Whether HA refused the token (auth_invalid, or HTTP 401/403 on the upgrade). */
  authRefused = false;

  constructor(private readonly o: HaSocketOptions) {
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(authTimer);
        if (err) reject(err);
        else resolve();
      };
      const authTimer = setTimeout(() => {
        settle(new Error(`no auth_ok within ${this.timeoutMs} ms`));
        this.terminate(`no auth_ok within ${this.timeoutMs} ms`);
      }, this.timeoutMs);
      const ws = new WebSocket(this.o.url, {
        handshakeTimeout: this.timeoutMs,
        maxPayload: MAX_FRAME_BYTES,
        perMessageDeflate: true,
        ...(this.o.ca !== undefined ? { ca: this.o.ca } : {}),
        rejectUnauthorized: this.o.rejectUnauthorized ?? true,
      });
      this.ws = ws;
      ws.on('unexpected-response', (_req, res) => {
        const reason = `the WebSocket upgrade was answered with HTTP ${res.statusCode}${res.statusCode === 404 ? ' (is the websocket_api integration loaded?)' : ''}`;
        res.resume();
        this.closeReason = reason;
        this.authRefused = res.statusCode === 401 || res.statusCode === 403;
        settle(this.authRefused ? new AuthRefused(reason) : new Error(reason));
        ws.terminate();
      });
      ws.on('error', (err) => {
        this.closeReason = err.message;
        settle(err);
      });
      ws.on('close', (code, reason) => {
        if (this.closeReason === 'closed') this.closeReason = `connection closed (code ${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`;
        settle(new Error(this.closeReason));
        this.ended();
      });
      ws.on('message', (data: Buffer) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(data.toString('utf8'));
        } catch (err) {
          this.o.onUnparseable(`a frame that is not JSON: ${(err as Error).message}`);
          return;
        }
        for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
          try {
            this.dispatch(m, settle);
          } catch (err) {
            // A handler's bug must not end the process (this runs inside the socket's event): counted like a bad message.
            this.o.onUnparseable(`a message could not be handled: ${(err as Error).stack ?? String(err)}`);
          }
        }
      });
    });
  }

  private dispatch(m: unknown, settle: (err?: Error) => void): void {
    if (m === null || typeof m !== 'object') return this.o.onUnparseable(`a message that is not an object: ${JSON.stringify(m)?.slice(0, 80)}`);
    const msg = m as { type?: unknown; id?: unknown; message?: unknown; ha_version?: unknown; success?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown }; event?: unknown };
    switch (msg.type) {
      case 'auth_required':
        this.ws?.send(JSON.stringify({ type: 'auth', access_token: this.o.token }));
        return;
      case 'auth_ok':
        this.haVersion = typeof msg.ha_version === 'string' ? msg.ha_version : undefined;
        this.startPings();
        settle();
        return;
      case 'auth_invalid': {
        const reason = `Home Assistant refused the access token (auth_invalid: ${typeof msg.message === 'string' ? msg.message : 'no reason given'})`;
        this.closeReason = reason;
        this.authRefused = true;
        settle(new AuthRefused(reason));
        this.terminate(reason);
        return;
      }
      case 'pong':
        if (msg.id === this.unanswered) this.unanswered = undefined;
        return;
      case 'result': {
        const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
        if (p === undefined) return;
        this.pending.delete(msg.id as number);
        clearTimeout(p.timer);
        if (msg.success === true) p.resolve(msg.result);
        else p.reject(new CommandError(p.command, String(msg.error?.code ?? 'unknown_error'), String(msg.error?.message ?? 'no message')));
        return;
      }
      case 'event': {
        const handler = typeof msg.id === 'number' ? this.handlers.get(msg.id) : undefined;
        const ev = msg.event as HaEvent | undefined;
        if (ev === null || typeof ev !== 'object' || typeof ev.event_type !== 'string') return this.o.onUnparseable('an event message without an event');
        // An event of a subscription ended meanwhile: nothing to do.
        handler?.(ev);
        return;
      }
      default:
        this.o.onUnparseable(`a message of unknown type ${JSON.stringify(msg.type)?.slice(0, 40)}`);
    }
  }

  /** Sends a command (after open()); resolves with its result. */
  command<T = unknown>(type: string, fields: Record<string, unknown> = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const ws = this.ws;
      if (this.closed || ws === undefined || ws.readyState !== WebSocket.OPEN) return reject(new Error(`${type}: ${this.closeReason}`));
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${type}: no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { command: type, resolve: resolve as (v: unknown) => void, reject, timer });
      ws.send(JSON.stringify({ ...fields, id, type }));
    });
  }

  /** Subscribes to events of `eventType`; `handler` gets each one from the subscription's result on. */
  async subscribe(eventType: string, handler: (e: HaEvent) => void): Promise<void> {
    const id = this.nextId;
    // Registered before the command is sent: an event may come right after its result, in the same frame.
    this.handlers.set(id, handler);
    try {
      await this.command('subscribe_events', { event_type: eventType });
    } catch (err) {
      this.handlers.delete(id);
      throw err;
    }
  }

  private startPings(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.unanswered !== undefined) return this.terminate(`no pong within ${this.o.pingIntervalMs} ms: the connection is dead`);
      const ws = this.ws;
      if (ws === undefined || ws.readyState !== WebSocket.OPEN) return;
      this.unanswered = this.nextId++;
      ws.send(JSON.stringify({ id: this.unanswered, type: 'ping' }));
    }, this.o.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** Ends the connection at once, saying why. */
  terminate(reason: string): void {
    if (this.closeReason === 'closed') this.closeReason = reason;
    this.ws?.terminate();
  }

  /** Closes the connection (a close frame; terminated if HA does not answer within a second); resolves once closed. */
  close(): Promise<void> {
    const ws = this.ws;
    if (this.closeReason === 'closed') this.closeReason = 'closed by Sentio';
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => ws.terminate(), 1000);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000);
    });
  }

  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`${p.command}: ${this.closeReason}`));
      this.pending.delete(id);
    }
    this.handlers.clear();
    this.o.onClose(this.closeReason);
  }
}
