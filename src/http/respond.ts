// Small helpers over uWebSockets.js responses: status lines, JSON errors in
// the shape InfluxDB clients read (`error` for v1, `code`/`message` for v2),
// and writes that respect an aborted request.

import { STATUS_CODES } from 'node:http';
import type { HttpResponse } from 'uWebSockets.js';
import type { SentioError } from '../errors.js';

const statusLines = new Map<number, string>();

export function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
    statusLines.set(status, line);
  }
  return line;
}

/**
 * Tracks whether the client went away, which uWS signals once, and whether
 * the reply was sent: writing after either throws.
 */
export interface RequestState {
  aborted: boolean;
  answered?: boolean;
  /** Called once if the client goes away (a body being read stops waiting for the rest). */
  onAbort?: () => void;
}

export function watchAbort(res: HttpResponse): RequestState {
  const state: RequestState = { aborted: false, answered: false };
  res.onAborted(function onAborted() {
    state.aborted = true;
    state.onAbort?.();
  });
  return state;
}

export function send(
  res: HttpResponse,
  state: RequestState,
  status: number,
  body?: string | Buffer,
  headers?: Record<string, string>,
): void {
  if (state.aborted || state.answered) return;
  state.answered = true;
  res.cork(function corked() {
    res.writeStatus(statusLine(status));
    if (headers) for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    if (body !== undefined && status !== 204) res.end(body);
    else res.endWithoutBody();
  });
}

export function sendJson(res: HttpResponse, state: RequestState, status: number, value: unknown, headers?: Record<string, string>): void {
  send(res, state, status, JSON.stringify(value), { 'content-type': 'application/json', ...headers });
}

/** An error reply: `code` and `message` (our stable code, InfluxDB v2 clients), `error` (InfluxDB v1 clients). */
export function sendError(res: HttpResponse, state: RequestState, err: SentioError, extra?: Record<string, unknown>): void {
  const headers: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Token realm="sentio"' } : {};
  if (err.status === 503 || err.status === 429) {
    const ms = typeof err.details?.retryAfterMs === 'number' ? err.details.retryAfterMs : 1000;
    headers['retry-after'] = String(Math.max(1, Math.ceil(ms / 1000)));
  }
  sendJson(res, state, err.status, { code: err.code, message: err.message, error: err.message, ...extra }, headers);
}
