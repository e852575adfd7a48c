// Resume memory of the WebSocket source (docs/protocol.md, resume): per
// client id, the acks of the last accepted frames with an explicit seq, so a
// frame resent after a reconnect is acknowledged again, not stored twice.

import type { AckReply, Reply } from './codec.js';

/** What resume remembers about one client id. */
export class ClientWindow {
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

