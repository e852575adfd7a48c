// The load of the fleet benchmark (load-tests/fleet.ts), in a process of its
// own so it does not share Sentio's event loop: one WebSocket connection per
// device, each with its own device token and `?client=<device>` (resume),
// each sending a frame of `lines` lines every `intervalMs`, spread evenly
// over the interval. Each frame starts with `# seq=<n>`; a frame stays in
// flight until its ack arrives, and is resent with the same seq after a
// reconnect, so a gateway restart loses nothing and (with resume, or
// VictoriaMetrics' deduplication) stores nothing twice.
//
// Driven by the parent over IPC: connect, run (steady state, latency
// measured), run again while the parent restarts the gateway (reconnect
// time measured), report, close. Lines: `fleet,room=r<j> a=..,b=..,c=..,d=..
// <ms>`: 4 samples a line, timestamps unique per frame (start + seq × interval).

import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { percentile } from './util.js';

interface WsClient {
  readonly readyState: number;
  on(event: 'open', cb: () => void): this;
  on(event: 'message', cb: (data: Buffer) => void): this;
  on(event: 'error', cb: (err: Error) => void): this;
  on(event: 'close', cb: (code: number) => void): this;
  on(event: 'unexpected-response', cb: (req: unknown, res: { statusCode?: number }) => void): this;
  send(data: Buffer, opts: { binary: boolean; compress: boolean }): void;
  close(code?: number): void;
  terminate(): void;
}
type WsCtor = new (url: string, opts: { headers?: Record<string, string>; perMessageDeflate: boolean }) => WsClient;
const WebSocket = createRequire(import.meta.url)('ws') as WsCtor;

export type ToLoad =
  | { type: 'connect'; url: string; tokens: string[]; lines: number; intervalMs: number; t0: number }
  | { type: 'run'; seconds: number; measure: boolean }
  | { type: 'report' }
  | { type: 'close' };

export interface RunStats {
  framesSent: number;
  acks: number;
  /** Acks with "duplicate": true (a resent frame resume already had). */
  duplicateAcks: number;
  errors: Record<string, number>;
  /** Acks for a seq not in flight (a second ack of one frame). */
  unexpected: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Frames still without an ack when the run ended (after the drain). */
  pending: number;
  /** From the first connection lost to the last one back (0: none was lost). */
  reconnectSeconds: number;
  /** Connections lost during the run. */
  disconnects: number;
}

export type FromLoad =
  | { type: 'connected'; seconds: number; failures: string[] }
  | { type: 'ran'; stats: RunStats }
  | { type: 'report'; ackedFrames: number; ackedSamples: number; devices: number }
  | { type: 'error'; message: string };

const SAMPLES_PER_LINE = 4;

class Device {
  ws: WsClient | undefined;
  open = false;
  nextSeq = 1;
  /** seq → frame and first send time. */
  readonly inflight = new Map<number, { frame: Buffer; sentAt: number }>();
  ackedFrames = 0;
  closing = false;

  constructor(
    readonly id: string,
    private readonly token: string,
    private readonly fleet: Fleet,
  ) {}

  connect(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${this.fleet.url}?client=${this.id}`, { headers: { authorization: `Token ${this.token}` }, perMessageDeflate: false });
      this.ws = ws;
      let settled = false;
      const done = (): void => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      ws.on('open', () => {
        this.open = true;
        this.fleet.connected(this);
        // Resume: everything not acknowledged goes again, with its seq.
        for (const [, f] of this.inflight) ws.send(f.frame, { binary: false, compress: false });
        done();
      });
      ws.on('message', (data) => this.reply(data));
      ws.on('unexpected-response', (_req, res) => {
        this.fleet.failure(`${this.id}: upgrade refused: HTTP ${res.statusCode ?? '?'}`);
        ws.terminate();
      });
      ws.on('error', () => undefined);
      ws.on('close', () => {
        const wasOpen = this.open;
        this.open = false;
        done();
        if (this.closing) return;
        if (wasOpen) this.fleet.disconnected();
        // Back again soon, with jitter so 10,000 devices do not arrive at once.
        setTimeout(() => void this.connect(), 100 + Math.random() * 400);
      });
    });
  }

  send(now: number): void {
    if (!this.open) return;
    const seq = this.nextSeq++;
    const frame = this.fleet.frame(seq);
    this.inflight.set(seq, { frame, sentAt: now });
    this.fleet.stats.framesSent++;
    this.ws!.send(frame, { binary: false, compress: false });
  }

  private reply(data: Buffer): void {
    const now = performance.now();
    let r: { type?: string; seq?: number; code?: string; duplicate?: boolean; retryAfterMs?: number };
    try {
      r = JSON.parse(data.toString('utf8'));
    } catch {
      this.fleet.stats.unexpected++;
      return;
    }
    const f = typeof r.seq === 'number' ? this.inflight.get(r.seq) : undefined;
    if (f === undefined) {
      this.fleet.stats.unexpected++;
      return;
    }
    const s = this.fleet.stats;
    if (r.type === 'ack') {
      this.inflight.delete(r.seq!);
      this.ackedFrames++;
      s.acks++;
      if (r.duplicate) s.duplicateAcks++;
      if (this.fleet.measuring) this.fleet.latencies.push(now - f.sentAt);
      return;
    }
    const code = r.code ?? 'unknown';
    s.errors[code] = (s.errors[code] ?? 0) + 1;
    // Refused for load: resend after the advertised delay (the frame stays in flight).
    setTimeout(() => {
      if (this.open && this.inflight.has(r.seq!)) this.ws!.send(f.frame, { binary: false, compress: false });
    }, r.retryAfterMs ?? 1000);
  }

  close(): void {
    this.closing = true;
    this.ws?.close(1000);
  }
}

class Fleet {
  readonly devices: Device[];
  stats = Fleet.emptyStats();
  latencies: number[] = [];
  measuring = false;
  private failures: string[] = [];
  private openCount = 0;
  private lostAt: number | undefined;
  private backAt = 0;

  constructor(
    readonly url: string,
    tokens: string[],
    private readonly lines: number,
    readonly intervalMs: number,
    private readonly t0: number,
  ) {
    this.devices = tokens.map((t, i) => new Device(`fleet-${i}`, t, this));
  }

  static emptyStats(): RunStats {
    return { framesSent: 0, acks: 0, duplicateAcks: 0, errors: {}, unexpected: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, pending: 0, reconnectSeconds: 0, disconnects: 0 };
  }

  frame(seq: number): Buffer {
    const ts = this.t0 + seq * this.intervalMs;
    let text = `# seq=${seq}\n`;
    for (let j = 0; j < this.lines; j++) text += `fleet,room=r${j} a=${seq},b=${j},c=${seq + j},d=1.5 ${ts}\n`;
    return Buffer.from(text, 'latin1');
  }

  connected(_d: Device): void {
    this.openCount++;
    if (this.openCount === this.devices.length && this.lostAt !== undefined) this.backAt = performance.now();
  }

  disconnected(): void {
    this.openCount--;
    this.stats.disconnects++;
    this.lostAt ??= performance.now();
  }

  failure(message: string): void {
    if (this.failures.length < 20) this.failures.push(message);
  }

  async connectAll(): Promise<{ seconds: number; failures: string[] }> {
    const started = performance.now();
    // 200 handshakes at a time: a burst of 10,000 would only queue in the kernel.
    for (let i = 0; i < this.devices.length; i += 200) await Promise.all(this.devices.slice(i, i + 200).map((d) => d.connect()));
    return { seconds: (performance.now() - started) / 1000, failures: this.failures };
  }

  /** Sends for `seconds`, each device once per interval at its own offset; then waits (up to 30 s) for the acks in flight. */
  async run(seconds: number, measure: boolean): Promise<RunStats> {
    this.stats = Fleet.emptyStats();
    this.latencies = [];
    this.measuring = measure;
    this.lostAt = undefined;
    this.backAt = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    const n = this.devices.length;
    let sent = 0; // sends done, over all devices and intervals
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        // Device i sends at start + k·interval + (i/n)·interval: `due` sends so far.
        const due = Math.min(Math.floor(((Math.min(now, end) - start) / this.intervalMs) * n), Math.floor(((end - start) / this.intervalMs) * n));
        for (; sent < due; sent++) this.devices[sent % n]!.send(now);
        if (now >= end) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    const drainUntil = performance.now() + 30_000;
    while (this.pending() > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
    const lat = Float64Array.from(this.latencies).sort();
    this.stats.p50Ms = percentile(lat, 50);
    this.stats.p99Ms = percentile(lat, 99);
    this.stats.maxMs = lat.length > 0 ? lat[lat.length - 1]! : 0;
    this.stats.pending = this.pending();
    if (this.lostAt !== undefined) this.stats.reconnectSeconds = ((this.backAt || performance.now()) - this.lostAt) / 1000;
    return this.stats;
  }

  pending(): number {
    let n = 0;
    for (const d of this.devices) n += d.inflight.size;
    return n;
  }

  report(): { ackedFrames: number; ackedSamples: number; devices: number } {
    const ackedFrames = this.devices.reduce((n, d) => n + d.ackedFrames, 0);
    return { ackedFrames, ackedSamples: ackedFrames * this.lines * SAMPLES_PER_LINE, devices: this.devices.length };
  }

  close(): void {
    for (const d of this.devices) d.close();
  }
}

let fleet: Fleet | undefined;
const reply = (m: FromLoad): void => void process.send!(m);

process.on('message', (m: ToLoad) => {
  void (async () => {
    try {
      if (m.type === 'connect') {
        fleet = new Fleet(m.url, m.tokens, m.lines, m.intervalMs, m.t0);
        reply({ type: 'connected', ...(await fleet.connectAll()) });
      } else if (m.type === 'run') {
        reply({ type: 'ran', stats: await fleet!.run(m.seconds, m.measure) });
      } else if (m.type === 'report') {
        reply({ type: 'report', ...fleet!.report() });
      } else {
        fleet?.close();
        setTimeout(() => process.exit(0), 500).unref();
      }
    } catch (err) {
      reply({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
