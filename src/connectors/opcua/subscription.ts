// Reading by subscription: one subscription per session, its monitored
// items created in groups of identical parameters (./targets.ts), and each
// publish response handled as one message, straight from the notification
// (node-opcua's per-item `changed` events come a promise later, and one by
// one).
//
// - An item the server refuses to monitor (a percent deadband on a variable
//   without an EURange, a NodeId it does not know) is left out and reported;
//   the others are read.
// - A server that refuses the subscription itself (BadServiceUnsupported,
//   BadTooManySubscriptions) raises SubscriptionRefused: the connector polls
//   instead.
// - The subscription ending (the server timed it out: BadTimeout, or
//   terminated it) is a lost session.

import {
  AttributeIds,
  type ClientMonitoredItemBase,
  ClientMonitoredItemGroup,
  type ClientSession,
  type ClientSubscription,
  DataChangeNotification,
  type NotificationMessage,
  type StatusCode,
  TimestampsToReturn,
} from 'node-opcua';
import { statusName } from './codec.js';
import type { Feed, Reader } from './reader.js';
import { groupByParameters, type Target } from './targets.js';

/** Publishing intervals without data before a keep-alive is sent. */
const MAX_KEEP_ALIVE_COUNT = 10;
/** Publishing intervals without a Publish request before the server drops the subscription (at least 3 × the keep-alive count). */
const LIFETIME_COUNT = 60;
/** Missed keep-alive periods before the watchdog calls the session dead. */
const WATCHDOG_PERIODS = 3;
const REFUSALS = /BadServiceUnsupported|BadTooManySubscriptions/;

export class SubscriptionRefused extends Error {
  override readonly name = 'SubscriptionRefused';
  constructor(readonly status: string) {
    super(`the server refused to create a subscription (${status})`);
  }
}

async function createSubscription(session: ClientSession, publishingIntervalMs: number): Promise<ClientSubscription> {
  try {
    return await session.createSubscription2({
      requestedPublishingInterval: publishingIntervalMs,
      requestedMaxKeepAliveCount: MAX_KEEP_ALIVE_COUNT,
      requestedLifetimeCount: LIFETIME_COUNT,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 1,
    });
  } catch (err) {
    const refusal = REFUSALS.exec((err as Error).message);
    if (refusal !== null) throw new SubscriptionRefused(refusal[0]);
    throw err;
  }
}

/** Creates one group's monitored items; resolves with them, or rejects with the server's refusal of the whole request. */
function monitor(subscription: ClientSubscription, targets: Target[], parameters: Parameters<typeof ClientMonitoredItemGroup.create>[2]): Promise<ClientMonitoredItemBase[]> {
  const group = ClientMonitoredItemGroup.create(
    subscription,
    targets.map((t) => ({ nodeId: t.nodeId, attributeId: AttributeIds.Value })),
    parameters,
    TimestampsToReturn.Both,
  );
  return new Promise((resolve, reject) => {
    group.once('initialized', () => resolve(group.monitoredItems));
    group.once('err', (message: string) => reject(new Error(message)));
  });
}

export async function subscribe(session: ClientSession, targets: readonly Target[], o: { publishingIntervalMs: number; queueSize: number; feed: Feed }): Promise<Reader> {
  const { feed } = o;
  const subscription = await createSubscription(session, o.publishingIntervalMs);
  const byHandle = new Map<number, Target>();
  let stopped = false;
  const onNotification = (m: NotificationMessage): void => {
    feed.alive();
    const now = Date.now();
    for (const n of m.notificationData ?? []) {
      if (!(n instanceof DataChangeNotification)) continue;
      for (const mi of n.monitoredItems ?? []) {
        const t = byHandle.get(mi.clientHandle);
        if (t !== undefined) feed.value(t, mi.value, now);
      }
    }
    feed.end();
  };
  const lost = (reason: string) => () => {
    if (!stopped) feed.lost(reason);
  };
  subscription.on('raw_notification', onNotification);
  subscription.on('keepalive', () => feed.alive());
  subscription.on('terminated', lost('the subscription ended'));
  subscription.on('internal_error', (err: Error) => lost(`the subscription failed: ${err.message}`)());
  subscription.on('status_changed', (status: StatusCode) => {
    if (status.isNotGood()) lost(`the server ended the subscription (${statusName(status.name)})`)();
  });
  const problems: string[] = [];
  for (const g of groupByParameters(targets, o.publishingIntervalMs, o.queueSize)) {
    try {
      const items = await monitor(subscription, g.targets, g.parameters);
      items.forEach((mi, i) => {
        const t = g.targets[i]!;
        if (mi.statusCode.isGood()) byHandle.set(mi.monitoringParameters.clientHandle, t);
        else problems.push(`item ${t.item.name} (${t.nodeId}): the server refused to monitor it (${statusName(mi.statusCode.name)})`);
      });
    } catch (err) {
      for (const t of g.targets) problems.push(`item ${t.item.name} (${t.nodeId}): the server refused to monitor it (${(err as Error).message})`);
    }
  }
  return {
    watchdogMs: WATCHDOG_PERIODS * subscription.publishingInterval * subscription.maxKeepAliveCount,
    problems,
    stop() {
      stopped = true;
      subscription.removeAllListeners();
      // Closing the session deletes the subscription with it.
    },
  };
}
