// A handler that throws must never end the process. uWebSockets.js calls
// route and WebSocket handlers straight from its event loop: an exception
// escaping one of them is an uncaught exception, and Node exits. `guardApp`
// wraps every handler registered on the app afterwards (by any module: the
// ingest routes, the API, /live, the dashboard), so a throw is caught where
// it happens:
//
// - HTTP: counted (`sentio_handler_errors_total{route}`), logged with its
//   stack, and answered 500 SENTIO_ERR_INTERNAL when no reply was sent yet
//   (a reply already under way is left alone: writing twice would throw).
// - WebSocket `upgrade`: as HTTP. `open`, `message`, `drain`, `close`:
//   counted and logged; after `open` or `message` the connection is closed
//   with 1011 (internal error), as RFC 6455 §7.4.1 describes.
//
// A handler's own asynchronous failures are its business (every handler
// catches its promise chains); what escapes them is an unhandled rejection,
// which the CLI logs and counts (src/cli.ts) instead of letting Node exit.

import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { SentioError } from '../errors.js';
import { statusLine } from '../http/respond.js';

export interface GuardHooks {
  /** A handler threw: `where` is the route pattern (and the WebSocket event). */
  threw(where: string, err: unknown): void;
}

type HttpHandler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;

const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'del', 'options', 'head', 'any', 'connect', 'trace'] as const;
const INTERNAL = new SentioError('SENTIO_ERR_INTERNAL', 'the request handler failed; the error is logged');
const INTERNAL_BODY = JSON.stringify({ code: INTERNAL.code, message: INTERNAL.message, error: INTERNAL.message });
/** RFC 6455 close code: the server met a condition that prevented it from fulfilling the request. */
export const CLOSE_INTERNAL_ERROR = 1011;

/** Answers 500 unless the reply was already sent or the client went away (uWS then throws, which is fine here). */
function answerInternal(res: HttpResponse): void {
  try {
    res.cork(() => {
      res.writeStatus(statusLine(500)).writeHeader('content-type', 'application/json').end(INTERNAL_BODY);
    });
  } catch {
    // Already answered, mid-answer or aborted: nothing more to say to this client.
  }
}

function guardHttp(pattern: string, handler: HttpHandler, hooks: GuardHooks): HttpHandler {
  return function guardedRoute(res, req) {
    try {
      const out = handler(res, req);
      if (out instanceof Promise) {
        out.catch((err: unknown) => {
          hooks.threw(pattern, err);
          answerInternal(res);
        });
      }
    } catch (err) {
      hooks.threw(pattern, err);
      answerInternal(res);
    }
  };
}

function guardWs<T>(pattern: string, behavior: WebSocketBehavior<T>, hooks: GuardHooks): WebSocketBehavior<T> {
  const guarded: WebSocketBehavior<T> = { ...behavior };
  const closeAfter = (ws: WebSocket<T>): void => {
    try {
      ws.end(CLOSE_INTERNAL_ERROR, 'internal error');
    } catch {
      // already closed
    }
  };
  const wrap = <A extends unknown[]>(event: string, fn: ((...args: A) => void | Promise<void>) | undefined, after?: (...args: A) => void) => {
    if (fn === undefined) return undefined;
    return function guardedEvent(...args: A): void {
      try {
        const out = fn(...args);
        if (out instanceof Promise) out.catch((err: unknown) => hooks.threw(`${pattern} ${event}`, err));
      } catch (err) {
        hooks.threw(`${pattern} ${event}`, err);
        after?.(...args);
      }
    };
  };
  if (behavior.upgrade) {
    const upgrade = behavior.upgrade;
    guarded.upgrade = function guardedUpgrade(res, req, context) {
      try {
        const out = upgrade(res, req, context);
        if (out instanceof Promise) out.catch((err: unknown) => (hooks.threw(`${pattern} upgrade`, err), answerInternal(res)));
      } catch (err) {
        hooks.threw(`${pattern} upgrade`, err);
        answerInternal(res);
      }
    };
  }
  const open = wrap('open', behavior.open, closeAfter);
  const message = wrap('message', behavior.message, closeAfter);
  const drain = wrap('drain', behavior.drain);
  const close = wrap('close', behavior.close);
  if (open) guarded.open = open;
  if (message) guarded.message = message;
  if (drain) guarded.drain = drain;
  if (close) guarded.close = close;
  return guarded;
}

/**
 * Wraps the app's route and WebSocket registration so every handler added
 * from now on is guarded. Returns the same app, for chaining.
 */
export function guardApp(app: TemplatedApp, hooks: GuardHooks): TemplatedApp {
  const target = app as unknown as Record<string, (pattern: string, handler: unknown) => TemplatedApp>;
  for (const method of HTTP_METHODS) {
    const register = target[method];
    if (typeof register !== 'function') continue;
    target[method] = function guardedRegister(pattern: string, handler: unknown) {
      return register.call(app, pattern, guardHttp(pattern, handler as HttpHandler, hooks));
    };
  }
  const ws = target.ws!;
  target.ws = function guardedWs(pattern: string, behavior: unknown) {
    return ws.call(app, pattern, guardWs(pattern, behavior as WebSocketBehavior<unknown>, hooks));
  };
  return app;
}
