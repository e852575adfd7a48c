// The variables a session reads: each configured item with its NodeId
// resolved (browse paths through TranslateBrowsePathsToNodeIds, on every new
// session: a server rebuilt with other NodeIds is still read), the labels of
// its samples, and its monitoring parameters.
//
// An item that cannot be resolved is left out and reported (the others are
// read); its problem names the item and the server's answer.

import { type ClientSession, DataChangeFilter, DataChangeTrigger, DeadbandType, makeBrowsePath, type MonitoringParametersOptions, resolveNodeId } from 'node-opcua';
import { Series } from '../batcher.js';
import type { Item } from './config.js';

/** TranslateBrowsePathsToNodeIds and Read requests carry at most this many nodes (servers' usual operation limits are 1,000 or more). */
export const NODES_PER_REQUEST = 1000;

export interface Target {
  item: Item;
  /** The resolved NodeId, as text (ns=2;s=Temperature): the `node_id` label. */
  nodeId: string;
  /** Its samples' series (key: name and NodeId). */
  series: Series;
}

export function target(item: Item, nodeId: string, connector: string): Target {
  return { item, nodeId, series: new Series(`${item.name}\u0000${nodeId}`, { __name__: `opcua_${item.name}`, connector, node_id: nodeId }) };
}

/** The items' targets, browse paths resolved on `session`; problems: the items left out, and why. */
export async function resolveTargets(session: ClientSession, items: readonly Item[], connector: string): Promise<{ targets: Target[]; problems: string[] }> {
  const targets: Target[] = [];
  const problems: string[] = [];
  const byPath = items.filter((it) => it.browsePath !== undefined);
  for (const it of items) if (it.nodeId !== undefined) targets.push(target(it, resolveNodeId(it.nodeId).toString(), connector));
  for (let i = 0; i < byPath.length; i += NODES_PER_REQUEST) {
    const chunk = byPath.slice(i, i + NODES_PER_REQUEST);
    const results = await session.translateBrowsePath(chunk.map((it) => makeBrowsePath('RootFolder', it.browsePath!)));
    chunk.forEach((it, j) => {
      const r = results[j];
      const id = r?.targets?.[0]?.targetId;
      if (r === undefined || r.statusCode.isNotGood() || id === undefined) problems.push(`item ${it.name}: browse path ${it.browsePath} not found on the server (${r?.statusCode.name ?? 'no answer'})`);
      else targets.push(target(it, resolveNodeId(id).toString(), connector));
    });
  }
  return { targets, problems };
}

/** An item's monitoring parameters (the client handle is the library's). */
export function monitoringParameters(item: Item, publishingIntervalMs: number, queueSize: number): MonitoringParametersOptions {
  const d = item.deadband;
  return {
    samplingInterval: item.samplingIntervalMs ?? publishingIntervalMs,
    queueSize: item.queueSize ?? queueSize,
    discardOldest: true,
    filter:
      d === undefined
        ? null
        : new DataChangeFilter({ trigger: DataChangeTrigger.StatusValue, deadbandType: d.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent, deadbandValue: d.value }),
  };
}

/** Targets grouped by identical monitoring parameters, at most NODES_PER_REQUEST a group: one CreateMonitoredItems request per group instead of one per item. */
export function groupByParameters(targets: readonly Target[], publishingIntervalMs: number, queueSize: number): Array<{ parameters: MonitoringParametersOptions; targets: Target[] }> {
  const groups = new Map<string, { parameters: MonitoringParametersOptions; targets: Target[] }>();
  for (const t of targets) {
    const it = t.item;
    const k = JSON.stringify([it.samplingIntervalMs ?? publishingIntervalMs, it.queueSize ?? queueSize, it.deadband?.type, it.deadband?.value]);
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = { parameters: monitoringParameters(it, publishingIntervalMs, queueSize), targets: [] }));
    g.targets.push(t);
  }
  return [...groups.values()].flatMap((g) => {
    const out: Array<{ parameters: MonitoringParametersOptions; targets: Target[] }> = [];
    for (let i = 0; i < g.targets.length; i += NODES_PER_REQUEST) out.push({ parameters: g.parameters, targets: g.targets.slice(i, i + NODES_PER_REQUEST) });
    return out;
  });
}
