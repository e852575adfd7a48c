// Reading by polling, for servers without subscriptions: every item Read
// (value attribute, both timestamps) every interval, each round one message.
// A Read that fails is a lost session; the watchdog (the connector's) covers
// a Read that never answers.

import { AttributeIds, type ClientSession, TimestampsToReturn } from 'node-opcua';
import type { Feed, Reader } from './reader.js';
import { NODES_PER_REQUEST, type Target } from './targets.js';

/** Missed polls before the watchdog calls the session dead. */
const WATCHDOG_PERIODS = 3;
/** Added to the watchdog's timeout: a Read of many nodes takes a while. */
const READ_ALLOWANCE_MS = 10_000;

export function poll(session: ClientSession, targets: readonly Target[], o: { intervalMs: number; feed: Feed }): Reader {
  const { feed } = o;
  const chunks: Target[][] = [];
  for (let i = 0; i < targets.length; i += NODES_PER_REQUEST) chunks.push(targets.slice(i, i + NODES_PER_REQUEST));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const round = async (): Promise<void> => {
    const started = Date.now();
    for (const chunk of chunks) {
      const values = await session.read(chunk.map((t) => ({ nodeId: t.nodeId, attributeId: AttributeIds.Value, timestampsToReturn: TimestampsToReturn.Both })), 0);
      if (stopped) return;
      const now = Date.now();
      values.forEach((dv, i) => feed.value(chunk[i]!, dv, now));
    }
    feed.alive();
    feed.end();
    // The next round starts an interval after this one started (at once when it took longer): rounds never pile up.
    timer = setTimeout(next, Math.max(0, o.intervalMs - (Date.now() - started)));
  };
  const next = (): void => {
    if (stopped) return;
    round().catch((err: Error) => {
      if (!stopped) feed.lost(`Read failed: ${err.message}`);
    });
  };
  next();
  return {
    watchdogMs: WATCHDOG_PERIODS * o.intervalMs + READ_ALLOWANCE_MS,
    problems: [],
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
