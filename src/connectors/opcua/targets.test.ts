import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataChangeFilter, DeadbandType } from 'node-opcua';
import type { Item } from './config.js';
import { groupByParameters, monitoringParameters, NODES_PER_REQUEST, target } from './targets.js';

test("a target's labels and key", () => {
  const t = target({ name: 'temperature', nodeId: 'ns=2;s=T' }, 'ns=2;s=T', 'plant');
  assert.deepEqual(t.item, { name: 'temperature', nodeId: 'ns=2;s=T' });
  assert.equal(t.nodeId, 'ns=2;s=T');
  assert.equal(t.series.key, 'temperature\u0000ns=2;s=T');
  assert.deepEqual(t.series.labels, { __name__: 'opcua_temperature', connector: 'plant', node_id: 'ns=2;s=T' });
});

test('monitoring parameters: defaults from the connector, a deadband as a DataChangeFilter', () => {
  assert.deepEqual(monitoringParameters({ name: 'a', nodeId: 'i=1' }, 500, 1), { samplingInterval: 500, queueSize: 1, discardOldest: true, filter: null });
  const p = monitoringParameters({ name: 'a', nodeId: 'i=1', samplingIntervalMs: 0, queueSize: 8, deadband: { type: 'percent', value: 2 } }, 500, 1);
  assert.equal(p.samplingInterval, 0);
  assert.equal(p.queueSize, 8);
  assert.ok(p.filter instanceof DataChangeFilter);
  assert.equal((p.filter as DataChangeFilter).deadbandType, DeadbandType.Percent);
  assert.equal((p.filter as DataChangeFilter).deadbandValue, 2);
});

test('targets are grouped by identical parameters, at most NODES_PER_REQUEST a group', () => {
  const items: Item[] = [
    { name: 'a', nodeId: 'i=1' },
    { name: 'b', nodeId: 'i=2', deadband: { type: 'absolute', value: 1 } },
    { name: 'c', nodeId: 'i=3', samplingIntervalMs: 1000 },
    ...Array.from({ length: NODES_PER_REQUEST + 1 }, (_, i) => ({ name: `v${i}`, nodeId: `i=${100 + i}` })),
  ];
  const groups = groupByParameters(items.map((it) => target(it, it.nodeId!, 'x')), 1000, 1);
  assert.deepEqual(
    groups.map((g) => g.targets.length),
    [NODES_PER_REQUEST, 3, 1],
    'a, c (asking for the default explicitly) and the vs share one set of parameters, in two requests; b has its own',
  );
  assert.deepEqual(groups[2]!.targets.map((t) => t.item.name), ['b']);
});
