// The /live WebSocket (docs/live.md): one connection for the whole app,
// opened while someone is logged in. It reconnects by itself with
// exponential backoff, re-sends its subscriptions, hands a fresher access
// token to the server before the old one expires, and publishes the
// gateway's `status` frames.

import { createSignal } from 'solid-js';
import { accessExpiresAtMs, accessToken, get, onAccessToken, refresh, wsUrl } from './api';
import type { GatewayStatus, Labels } from './types';

export type LiveState = 'connecting' | 'live' | 'disconnected';

export interface LivePoint {
  ref: number;
  labels?: Labels;
  p: [number, number | string];
}
export interface DataFrame {
  type: 'data';
  topic: string;
  t: number;
  snapshot?: boolean;
  series: LivePoint[];
}
export type Target = { selector: string } | { device: string };

interface Subscription {
  target: Target;
  onData: (frame: DataFrame) => void;
  onError?: ((message: string) => void) | undefined;
  topic?: string;
}

const [state, setState] = createSignal<LiveState>('connecting');
const [status, setStatus] = createSignal<{ status: GatewayStatus; receivedAt: number } | null>(null);
const [retryAt, setRetryAt] = createSignal<number | null>(null);
/** Connection state, for the header's indicator. */
export { state as liveState, status as liveStatus, retryAt as liveRetryAt };

let ws: WebSocket | null = null;
let wanted = false;
let attempts = 0;
let everLive = false;
let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
let nextId = 1;
const subs = new Map<string, Subscription>();
const refLabels = new Map<number, Labels>();

/** The labels of a series ref on the current connection. */
export function labelsOf(ref: number): Labels | undefined {
  return refLabels.get(ref);
}

/** A value of a data point as a number (NaN, ±Inf come as strings). */
export function pointValue(v: number | string): number {
  return typeof v === 'number' ? v : v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : NaN;
}

function send(msg: unknown): void {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function subscribeMessage(id: string, target: Target): unknown {
  return { type: 'subscribe', id, ...target };
}

function handle(msg: { type: string; [k: string]: unknown }): void {
  switch (msg.type) {
    case 'data': {
      const frame = msg as unknown as DataFrame;
      for (const s of frame.series) if (s.labels) refLabels.set(s.ref, s.labels);
      for (const sub of subs.values()) if (sub.topic === frame.topic) sub.onData(frame);
      return;
    }
    case 'status':
      setStatus({ status: msg.status as GatewayStatus, receivedAt: Date.now() });
      return;
    case 'welcome':
      attempts = 0;
      everLive = true;
      setRetryAt(null);
      setState('live');
      return;
    case 'subscribed': {
      const sub = subs.get(msg.id as string);
      if (sub) sub.topic = msg.topic as string;
      return;
    }
    case 'error': {
      const sub = typeof msg.id === 'string' ? subs.get(msg.id) : undefined;
      if (sub?.onError) sub.onError(String(msg.message));
      else console.warn('live:', msg.code, msg.message);
      return;
    }
    default:
      return;
  }
}

async function connect(): Promise<void> {
  clearTimeout(reconnectTimer);
  if (!wanted || ws !== null) return;
  if (!everLive) setState('connecting');
  try {
    if (accessExpiresAtMs() - Date.now() < 10_000) await refresh();
  } catch {
    // unreachable: the socket fails too and we back off
  }
  const token = accessToken();
  if (!wanted || token === null || ws !== null) return;
  const sock = new WebSocket(wsUrl('/live'), ['bearer', token]);
  ws = sock;
  refLabels.clear();
  sock.onopen = () => {
    for (const [id, sub] of subs) {
      sub.topic = undefined;
      send(subscribeMessage(id, sub.target));
    }
  };
  sock.onmessage = (e) => {
    if (typeof e.data !== 'string') return;
    try {
      handle(JSON.parse(e.data) as { type: string });
    } catch (err) {
      console.error('live: bad frame', err);
    }
  };
  sock.onclose = (e) => {
    if (ws !== sock) return;
    ws = null;
    if (!wanted) return;
    setState(everLive ? 'disconnected' : 'connecting');
    if (e.code === 4001) {
      // token expired: refresh, then come back at once
      void refresh().then((ok) => { if (ok) void connect(); }, () => retry());
      return;
    }
    retry();
  };
}

function retry(): void {
  if (!wanted) return;
  const delay = Math.min(15_000, 500 * 2 ** attempts) * (0.5 + Math.random() / 2);
  attempts = Math.min(attempts + 1, 10);
  setRetryAt(Date.now() + delay);
  if (attempts >= 2) {
    // A refused upgrade looks like any lost connection: ask the API whether the
    // session still stands (it refreshes an expired token, or ends the session).
    void get('/api/auth/me').catch(() => undefined);
  }
  reconnectTimer = setTimeout(() => void connect(), delay);
}

/** Opens the connection (idempotent); called when a user is logged in. */
export function startLive(): void {
  if (wanted) return;
  wanted = true;
  everLive = false;
  attempts = 0;
  void connect();
}

/** Closes it (logout). */
export function stopLive(): void {
  wanted = false;
  clearTimeout(reconnectTimer);
  const sock = ws;
  ws = null;
  sock?.close(1000);
  setState('connecting');
  setStatus(null);
}

onAccessToken((token) => {
  if (token !== null) send({ type: 'auth', token });
});

/** Subscribes to a selector or a device; returns the unsubscribe function. */
export function subscribe(target: Target, onData: (frame: DataFrame) => void, onError?: (message: string) => void): () => void {
  const id = `s${nextId++}`;
  subs.set(id, { target, onData, onError });
  send(subscribeMessage(id, target));
  return () => {
    if (subs.delete(id)) send({ type: 'unsubscribe', id });
  };
}
