// How a session's values reach the connector, whether they come from a
// subscription (./subscription.ts) or from polling (./poll.ts).

import type { DataValue } from 'node-opcua';
import type { Target } from './targets.js';

export interface Feed {
  /** One value of a target, received at `receivedAtMs`. */
  value(t: Target, dv: DataValue, receivedAtMs: number): void;
  /** The end of one message (a publish response, a poll): what it held goes to the pipeline. */
  end(): void;
  /** The server is alive: a keep-alive, or any message. */
  alive(): void;
  /** The session or subscription is dead: a new session is needed. */
  lost(reason: string): void;
}

export interface Reader {
  /** The watchdog's timeout: silence longer than this is a dead session. */
  readonly watchdogMs: number;
  /** Items the server refused to read, and why (the others are read). */
  readonly problems: readonly string[];
  stop(): void;
}
