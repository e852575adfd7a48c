// The connector contract. A connector is a source that polls or subscribes
// (MQTT, Home Assistant; Modbus and OPC-UA later): the runtime (./runtime.ts)
// creates it from its validated config, starts it on the one instance that
// holds its lease, and stops it on change, lease loss or shutdown. It writes
// through the IngestPort, as bytes in a wire format the core parses or as
// typed readings (./batcher.ts), and reports what happens to its status
// (./status.ts).

import type { Logger } from '../log/index.js';
import type { IngestPort } from '../pipeline/port.js';
import type { ConnectorStatus } from './status.js';

export type { ConnectorState } from './status.js';

export interface ConnectorContext {
  /** The connector's name: the `connector` label of its samples and metrics. */
  name: string;
  port: IngestPort;
  status: ConnectorStatus;
  log: Logger;
  /** The gateway's data directory: where a connector keeps what must survive a restart (OPC-UA certificates). */
  dataDir: string;
}

export interface Connector {
  /** Connects or starts polling; resolves once started (not once connected: failures to connect are retried, and reported in status). */
  start(): Promise<void>;
  /** Disconnects: waits (up to its own bound) for batches in flight, then ends. Idempotent. */
  stop(): Promise<void>;
}
