// OPC-UA connector: reads variables of an OPC-UA server (opc.tcp, security
// None, Sign or SignAndEncrypt, anonymous or a user name) and writes them as
// samples `opcua_<item name>` with the labels connector and node_id (the
// resolved NodeId), stamped with each value's sourceTimestamp (./codec.ts).
//
// Each connection, in this order:
// 1. a session (./session.ts): with security, the server's certificate must
//    be trusted in Sentio's PKI (./pki.ts, ./trust.ts);
// 2. the items' NodeIds: browse paths are resolved again (./targets.ts);
// 3. a subscription with the items as monitored items (./subscription.ts),
//    or, in mode poll or when the server refuses subscriptions, Reads every
//    interval (./poll.ts); items the server refuses are reported in the
//    status' last error, the others are read.
//
// - Values with a status other than Good are counted by status
//   (sentio_connector_bad_status_total), values that are not numbers as
//   unparseable; neither is written.
// - A connection is torn down and made again, with exponential backoff and
//   jitter, when its socket closes, its session or subscription ends, or the
//   watchdog (./watchdog.ts) hears nothing, not even a keep-alive, for three
//   keep-alive periods: node-opcua's own reconnection is off, it is known to
//   stay silent after a server restart.
// - A certificate not trusted (either way) puts the connector in `failed`;
//   it tries again at the longest backoff, so a certificate trusted meanwhile
//   is used without a restart.
// - node-opcua emits from its sockets' handlers: every handler here is
//   guarded, a bug is counted and logged, never thrown into the library.

import type { DataValue } from 'node-opcua';
import type { Principal } from '../../auth/index.js';
import { Backoff } from '../backoff.js';
import { ReadingsBatcher } from '../batcher.js';
import type { Connector, ConnectorContext } from '../types.js';
import { decode } from './codec.js';
import { DEFAULTS, type OpcuaConfig } from './config.js';
import { poll } from './poll.js';
import { routeNodeOpcuaLog } from './quiet.js';
import type { Feed, Reader } from './reader.js';
import { CertificateProblem, type Opened, openSession } from './session.js';
import { SubscriptionRefused, subscribe } from './subscription.js';
import { resolveTargets, type Target } from './targets.js';
import { Watchdog } from './watchdog.js';

export const PROTOCOL = 'opcua';

const STOP_GRACE_MS = 5000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 60_000;
/** The most of a list of item problems the status' last error shows. */
const MAX_PROBLEMS_SHOWN = 5;

/** One connection attempt and what it opened: torn down as a whole. */
interface Connection {
  done: boolean;
  /** Settles once setup is over (done or failed): stop() waits for it, bounded. */
  settled?: Promise<void>;
  opened?: Opened;
  reader?: Reader;
  watchdog?: Watchdog;
}

export class OpcuaConnector implements Connector {
  private readonly batcher: ReadingsBatcher;
  private readonly backoff = new Backoff({ baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS });
  private readonly principal: Principal;
  private conn: Connection | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Values of the current message that were not numbers, and the last reason. */
  private unparseable = 0;
  private unparseableReason = '';

  constructor(
    private readonly cfg: OpcuaConfig,
    private readonly ctx: ConnectorContext,
  ) {
    routeNodeOpcuaLog(ctx.log);
    this.principal = { key: `connector:${ctx.name}`, labels: { connector: ctx.name } };
    this.batcher = new ReadingsBatcher({ port: ctx.port, protocol: PROTOCOL, principal: this.principal, status: ctx.status, watch: ctx.status.watch });
  }

  async start(): Promise<void> {
    this.ctx.status.set('connecting');
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const c: Connection = { done: false };
    this.conn = c;
    c.settled = this.setup(c).catch((err: Error) => this.lost(c, err));
  }

  /** Steps 1–3 of the file's comment. */
  private async setup(c: Connection): Promise<void> {
    const { cfg, ctx } = this;
    const opened = await openSession(cfg, ctx.dataDir);
    c.opened = opened;
    if (c.done) return void opened.close();
    const lost = (reason: string) => this.guard(() => this.lost(c, new Error(reason)));
    opened.client.on('connection_lost', lost('the connection to the server was lost'));
    opened.client.on('close', lost('the connection to the server closed'));
    opened.session.on('session_closed', lost('the server closed the session'));
    const { targets, problems } = await resolveTargets(opened.session, cfg.items, ctx.name);
    if (c.done) return;
    const feed = this.feed(c);
    const publishingIntervalMs = cfg.publishingIntervalMs ?? DEFAULTS.publishingIntervalMs;
    const pollIntervalMs = cfg.pollIntervalMs ?? DEFAULTS.pollIntervalMs;
    let reader: Reader;
    if ((cfg.mode ?? 'subscribe') === 'poll') reader = poll(opened.session, targets, { intervalMs: pollIntervalMs, feed });
    else {
      try {
        reader = await subscribe(opened.session, targets, { publishingIntervalMs, queueSize: DEFAULTS.queueSize, feed });
      } catch (err) {
        if (!(err instanceof SubscriptionRefused)) throw err;
        problems.push(`${err.message}: polling every ${pollIntervalMs} ms instead`);
        reader = poll(opened.session, targets, { intervalMs: pollIntervalMs, feed });
      }
    }
    c.reader = reader;
    if (c.done) return void reader.stop();
    problems.push(...reader.problems);
    c.watchdog = new Watchdog(reader.watchdogMs, (silent) => this.guard(() => this.lost(c, new Error(`nothing from the server for ${silent} ms, not even a keep-alive: the session is taken for dead`)))());
    this.backoff.reset();
    ctx.status.set('up');
    ctx.status.success();
    if (problems.length > 0) ctx.status.failure(summary(problems));
    ctx.log.info(`connector ${ctx.name}: connected to ${cfg.endpoint}: ${targets.length - reader.problems.length} of ${cfg.items.length} items read${problems.length > 0 ? `; ${summary(problems)}` : ''}`);
  }

  /** Where the reader's values go: each guarded once. */
  private feed(c: Connection): Feed {
    return {
      value: this.guard((t: Target, dv: DataValue, receivedAtMs: number) => this.value(t, dv, receivedAtMs)),
      end: this.guard(() => this.end()),
      alive: () => c.watchdog?.feed(),
      lost: this.guard((reason: string) => this.lost(c, new Error(reason))),
    };
  }

  private value(t: Target, dv: DataValue, receivedAtMs: number): void {
    const d = decode(dv, receivedAtMs);
    if (d.ok) {
      if (this.batcher.full) this.ctx.status.dropped(1, 'overflow');
      else this.batcher.sampleSeries(t.series, d.timestampMs, d.value, receivedAtMs);
    } else if ('status' in d) this.ctx.status.badStatus(d.status);
    else {
      this.unparseable++;
      this.unparseableReason = `item ${t.item.name} (${t.nodeId}): ${d.unparseable}`;
    }
  }

  /** Ends a message: counted, and what it sampled goes to the pipeline. */
  private end(): void {
    const { status } = this.ctx;
    status.messages(1);
    if (this.unparseable > 0) {
      status.unparseable(this.unparseable, this.unparseableReason);
      this.unparseable = 0;
    }
    if (this.batcher.pendingSamples > 0) status.success();
    // Nothing to acknowledge to the server: a batch not stored before a stop is counted by the batcher.
    this.batcher.end().catch(() => undefined);
  }

  /** `fn` as an event handler that never throws into node-opcua: a bug is logged and counted. */
  private guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        this.ctx.log.error(`connector ${this.ctx.name}: a handler failed: ${(err as Error).stack ?? String(err)}`);
        this.ctx.status.failure(`internal error: ${(err as Error).message}`);
      }
    };
  }

  /** The connection ended or could not be made: torn down, and made again after a backoff (unless stopped or replaced). */
  private lost(c: Connection, err: Error): void {
    if (c.done) return;
    end(c);
    void c.opened?.close();
    if (this.stopped || this.conn !== c) return;
    const { status, log } = this.ctx;
    let wait: number;
    if (err instanceof CertificateProblem) {
      status.set('failed');
      // Retrying does not trust a certificate: the longest backoff, jittered; a trust given meanwhile is used then.
      wait = Math.round(BACKOFF_MAX_MS * (0.5 + 0.5 * Math.random()));
    } else {
      status.set('backoff');
      wait = this.backoff.next();
    }
    status.failure(err.message);
    log.warn(`connector ${this.ctx.name}: ${err.message}; reconnecting in ${wait} ms`);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (this.stopped) return;
      if (status.state !== 'failed') status.set('connecting');
      this.connect();
    }, wait);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const c = this.conn;
    if (c !== undefined) end(c);
    const closed = (async () => {
      // A setup under way closes what it opens once it sees `done`; a hung one is left to its own timeouts.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([c?.settled, new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))]);
      clearTimeout(timer);
      await c?.opened?.close();
    })();
    await Promise.allSettled([closed, this.batcher.close(STOP_GRACE_MS)]);
    this.ctx.status.set('stopped');
  }
}

/** Marks a connection ended and stops its timers (its session is closed by the caller). */
function end(c: Connection): void {
  c.done = true;
  c.watchdog?.stop();
  c.reader?.stop();
}

/** Item problems as one last error: the first few, and how many more. */
function summary(problems: readonly string[]): string {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ');
  return problems.length > MAX_PROBLEMS_SHOWN ? `${shown}; and ${problems.length - MAX_PROBLEMS_SHOWN} more` : shown;
}
