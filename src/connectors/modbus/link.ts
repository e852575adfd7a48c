// One Modbus TCP connection (host:port) and the requests on it.
//
// The units behind a Modbus TCP gateway (an RS-485 bus bridged to TCP)
// share one connection, and most gateways and small PLCs answer one request
// at a time: requests are therefore serialised here, in the order asked,
// whichever device asks. Each carries its unit id and its own timeout.
//
// - Connected lazily, on the first request, with a connect timeout; a
//   connection that cannot be made is not tried again before its backoff
//   has passed: requests meanwhile fail at once (`LinkDown`), so the polls
//   of the devices behind a dead gateway cost nothing and never queue up.
// - A connection the peer closes (a restart) is made again on the next
//   request. A connection that only times out (a half-open socket after a
//   network cut, or a peer hung) is dropped after MAX_SILENT_TIMEOUTS
//   timeouts in a row with no reply between, and made again; a single
//   timeout does not drop it (a gateway times out for one dead unit on its
//   bus while the others answer). Late replies of timed-out requests are
//   recognised by their transaction id and ignored (modbus-serial).
// - Exceptions reject with modbus-serial's Error, whose modbusCode the
//   bisection reads (./bisect.ts); coils and discrete inputs come back as
//   booleans, padded by modbus-serial to whole bytes.

import modbusSerial from 'modbus-serial';
import type { ModbusRTU as Client } from 'modbus-serial/ModbusRTU.js';
import { Backoff } from '../backoff.js';
import type { Table } from './config.js';

/** Consecutive timeouts (without a reply between) after which the connection is made again. */
export const MAX_SILENT_TIMEOUTS = 2;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;

/** A request not sent: the connection is down and its next attempt not due yet. */
export class LinkDown extends Error {}

export interface LinkOptions {
  host: string;
  port: number;
  /** Bound on making the connection (ms). */
  connectTimeoutMs: number;
  /** Told when the connection is made (true) or lost (false, with why). */
  onState?: (up: boolean, reason?: string) => void;
}

// CommonJS: Node's default import is module.exports, which is the client class (the typings call it `.default`).
const ModbusRTU = modbusSerial as unknown as new () => Client;
type ReadCallback = (err: Error | null, res?: { data: Array<number | boolean> }) => void;

export class ModbusLink {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly backoff = new Backoff({ baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS });
  private retryAtMs = 0;
  private lastError = '';
  private silentTimeouts = 0;
  private closed = false;
  /** Requests sent, and those that timed out (for the status and tests). */
  requests = 0;
  timeouts = 0;

  constructor(private readonly o: LinkOptions) {}

  get name(): string {
    return `${this.o.host}:${this.o.port}`;
  }

  get connected(): boolean {
    return this.client?.isOpen === true;
  }

  /** Reads `count` registers or bits of `table` at `address` from unit `unitId`, after the requests asked before it. */
  read(unitId: number, table: Table, address: number, count: number, timeoutMs: number): Promise<ArrayLike<number | boolean>> {
    const run = this.queue.then(() => this.send(unitId, table, address, count, timeoutMs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send(unitId: number, table: Table, address: number, count: number, timeoutMs: number): Promise<ArrayLike<number | boolean>> {
    const client = await this.connect();
    client.setTimeout(timeoutMs);
    this.requests++;
    try {
      const data = await new Promise<Array<number | boolean>>((resolve, reject) => {
        const done: ReadCallback = (err, res) => (err !== null ? reject(err) : resolve(res?.data ?? []));
        switch (table) {
          case 'holding':
            return client.writeFC3(unitId, address, count, done as never);
          case 'input':
            return client.writeFC4(unitId, address, count, done as never);
          case 'coil':
            return client.writeFC1(unitId, address, count, done as never);
          case 'discrete':
            return client.writeFC2(unitId, address, count, done as never);
        }
      });
      this.silentTimeouts = 0;
      return data;
    } catch (err) {
      if ((err as { errno?: unknown }).errno === 'ETIMEDOUT') {
        this.timeouts++;
        if (++this.silentTimeouts >= MAX_SILENT_TIMEOUTS) this.drop(client, `${this.silentTimeouts} requests in a row timed out`);
        throw new Error(`no reply within ${timeoutMs} ms (unit ${unitId}, ${table} ${address}+${count})`);
      }
      // An exception is a reply: the connection works.
      if ((err as { modbusCode?: unknown }).modbusCode !== undefined) this.silentTimeouts = 0;
      throw err;
    }
  }

  /** The open connection, made if needed (at most one attempt at a time, and not before its backoff). */
  private connect(): Promise<Client> {
    if (this.closed) return Promise.reject(new LinkDown(`${this.name}: closed`));
    if (this.client?.isOpen === true) return Promise.resolve(this.client);
    if (this.connecting !== undefined) return this.connecting;
    const wait = this.retryAtMs - Date.now();
    if (wait > 0) return Promise.reject(new LinkDown(`${this.name}: not connected (${this.lastError}); next attempt in ${Math.ceil(wait / 1000)} s`));
    this.connecting = this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<Client> {
    const client = new ModbusRTU();
    // Errors of the socket also reach the pending request; without a listener an 'error' event would throw.
    client.on('error', () => undefined);
    try {
      await withTimeout(client.connectTCP(this.o.host, { port: this.o.port }), this.o.connectTimeoutMs, `${this.name}: no connection within ${this.o.connectTimeoutMs} ms`);
    } catch (err) {
      client.destroy(() => undefined);
      this.lastError = (err as Error).message.startsWith(this.name) ? (err as Error).message.slice(this.name.length + 2) : (err as Error).message;
      this.retryAtMs = Date.now() + this.backoff.next();
      this.o.onState?.(false, this.lastError);
      throw new LinkDown(`${this.name}: cannot connect: ${this.lastError}`);
    }
    if (this.closed) {
      client.destroy(() => undefined);
      throw new LinkDown(`${this.name}: closed`);
    }
    this.backoff.reset();
    this.silentTimeouts = 0;
    this.client = client;
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      if (!this.closed) this.o.onState?.(false, 'the server closed the connection');
    });
    this.o.onState?.(true);
    return client;
  }

  private drop(client: Client, reason: string): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.destroy(() => undefined);
    this.o.onState?.(false, reason);
  }

  /** Closes the connection; requests asked after this fail. Resolves once the request in flight (bounded by its timeout) has ended. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const c = this.client;
    this.client = undefined;
    // destroy, not close: a hung peer never completes a graceful close.
    c?.destroy(() => undefined);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}
