// The contract of the napi binding as the gateway sees it: argument checks,
// result shapes and JS-side conversions. The core's behaviour is tested by
// `cargo test` in native/core/tests; these tests only exercise the boundary.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeLabels, native } from './index.js';
import type { IngestOptions } from './types.js';

const NOW = 1_800_000_000_000;

function record(payload: Buffer, samples: number, enqueuedMs: number): Buffer {
  return Buffer.concat([native.queueRecordHeader(payload, samples, enqueuedMs), payload]);
}

test('crc32c is the Castagnoli CRC', () => {
  assert.equal(native.crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(native.crc32c(Buffer.alloc(0)), 0);
});

test('queueRecordHeader lays out magic, CRC, length, samples and enqueue time', () => {
  const payload = Buffer.from('cpu,host=a v=1\n');
  const h = native.queueRecordHeader(payload, 3, NOW);
  assert.equal(h.length, 24);
  assert.equal(h.subarray(0, 4).toString('latin1'), 'SQR1');
  assert.equal(h.readUInt32LE(4), native.crc32c(Buffer.concat([h.subarray(8, 24), payload])));
  assert.equal(h.readUInt32LE(8), payload.length);
  assert.equal(h.readUInt32LE(12), 3);
  assert.equal(h.readBigInt64LE(16), BigInt(NOW));
  assert.equal(native.queueRecordHeader(Buffer.alloc(0), 0xffffffff, -Number.MAX_SAFE_INTEGER).readUInt32LE(12), 0xffffffff);
});

test('queueRecordHeader rejects numbers the header cannot hold', () => {
  const p = Buffer.from('x');
  for (const [samples, ms] of [
    [-1, NOW],
    [2 ** 32, NOW],
    [1.5, NOW],
    [Number.NaN, NOW],
    [1, NOW + 0.5],
    [1, Number.MAX_SAFE_INTEGER + 1],
    [1, Number.POSITIVE_INFINITY],
  ]) {
    assert.throws(() => native.queueRecordHeader(p, samples!, ms!), /must be/, `${samples} ${ms}`);
  }
});

test('queueScan returns intact records around damage, with offsets, reasons and the clean end', () => {
  const a = record(Buffer.from('first'), 1, NOW);
  const b = record(Buffer.alloc(100, 7), 2, NOW + 1);
  const c = record(Buffer.from('third'), 3, NOW + 2);
  const damagedB = Buffer.from(b);
  damagedB.writeUInt8(damagedB.readUInt8(30) ^ 0x01, 30);
  const tail = c.subarray(0, 10);
  const seg = Buffer.concat([a, damagedB, c, tail]);
  const s = native.queueScan(seg, 1 << 20);
  assert.deepEqual(s.records, [
    { offset: 0, payloadLength: 5, samples: 1, enqueuedMs: NOW },
    { offset: a.length + b.length, payloadLength: 5, samples: 3, enqueuedMs: NOW + 2 },
  ]);
  assert.equal(s.damage.length, 2);
  assert.deepEqual({ ...s.damage[0], reason: undefined }, { offset: a.length, length: b.length, reason: undefined });
  assert.match(s.damage[0]!.reason, /^crc mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}$/);
  assert.deepEqual(s.damage[1], { offset: a.length + b.length + c.length, length: 10, reason: 'torn record: 10 of 24 header bytes' });
  assert.equal(s.cleanEnd, a.length + b.length + c.length);
  // maxRecordBytes applies to payload lengths
  assert.equal(native.queueScan(Buffer.concat([a, b]), 99).damage[0]!.reason, 'length 100 exceeds max record bytes 99');
  assert.deepEqual(native.queueScan(Buffer.alloc(0), 0), { records: [], damage: [], cleanEnd: 0 });
  assert.deepEqual(native.queueScan(Buffer.alloc(64), 1024).damage, [{ offset: 0, length: 64, reason: 'zero-filled' }]);
});

test('queueScan rejects a maxRecordBytes outside u32', () => {
  for (const max of [-1, 2 ** 32, 0.5, Number.NaN]) {
    assert.throws(() => native.queueScan(Buffer.alloc(0), max), /maxRecordBytes must be an integer/, String(max));
  }
});

const lp: IngestOptions = { format: 'lp', nowMs: NOW };

test('maxLineBytes and maxTags reject lines and points past them, keeping their neighbours', () => {
  const exact = 'm,a=1,b=2 v=1'; // 13 bytes, 2 tags
  const input = Buffer.from(`${exact}\nm,a=1,b=22 v=1\r\nm,a=1,b=2,c=3 v=1\n${exact}\n`);
  const r = native.ingest(input, { ...lp, maxLineBytes: exact.length, maxTags: 2 });
  assert.deepEqual(
    { lines: r.lines, rejected: r.rejected, samples: r.samples, errors: r.errors },
    {
      lines: 4,
      rejected: 2,
      samples: 2,
      errors: [
        { line: 2, reason: 'line exceeds 13 bytes' },
        { line: 3, reason: 'line exceeds 13 bytes' },
      ],
    },
  );
  const tags = native.ingest(input, { ...lp, maxTags: 2 });
  assert.deepEqual(tags.errors, [{ line: 3, reason: 'point has more than 2 tags' }]);
  // 0 or absent: unlimited
  assert.equal(native.ingest(input, { ...lp, maxLineBytes: 0, maxTags: 0 }).rejected, 0);
  assert.equal(native.ingest(input, lp).rejected, 0);
});

test('maxLineBytes and maxTags must be integers in u32', () => {
  for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) {
    assert.throws(() => native.ingest(Buffer.from('m v=1'), { ...lp, maxLineBytes: bad }), /maxLineBytes must be an integer/);
    assert.throws(() => native.ingest(Buffer.from('m v=1'), { ...lp, maxTags: bad }), /maxTags must be an integer/);
  }
});

test('seriesHashes: the distinct series of the batch as u64 LE, first-seen order, equal to seriesHash', () => {
  const input = Buffer.from('cpu,host=a v=1,w=2\ncpu,host=b v=3\ncpu,host=a v=4\n');
  const labels = [
    { __name__: 'cpu_v', host: 'a', db: 'x' },
    { __name__: 'cpu_w', host: 'a', db: 'x' },
    { __name__: 'cpu_v', host: 'b', db: 'x' },
  ];
  const want = labels.map((l) => BigInt.asUintN(64, native.seriesHash(l)));
  for (const output of ['remote_write', 'columns'] as const) {
    const r = native.ingest(input, { ...lp, db: 'x', outputs: [{ encoding: output }], seriesHashes: true });
    assert.ok(Buffer.isBuffer(r.seriesHashes), output);
    assert.equal(r.seriesHashes.length, 8 * labels.length, output);
    const got = Array.from({ length: labels.length }, (_, i) => r.seriesHashes!.readBigUInt64LE(8 * i));
    assert.deepEqual(got, want, output);
  }
  assert.equal(native.ingest(input, { ...lp, outputs: [{ encoding: 'columns' }] }).seriesHashes, undefined);
  assert.equal(native.ingest(input, { ...lp, outputs: [{ encoding: 'none' }], seriesHashes: true }).seriesHashes, undefined);
});

test('labels go to the core encoded once per object; the point\'s own tags win; pairs with NUL are left out', () => {
  const labels = { site: 'north', device: 'boiler-1', bad: 'a\0b' };
  const text = encodeLabels(labels);
  assert.equal(text, 'site\0north\0device\0boiler-1');
  assert.equal(encodeLabels(labels), text, 'cached');
  const r = native.ingest(Buffer.from('m,site=own v=1 1700000000000\n'), { format: 'lp', nowMs: NOW, outputs: [{ encoding: 'columns' }], labels: text });
  const o = r.outputs[0]!;
  assert.equal(o.seriesDefs!.toString(), '{"__name__":"m_v","device":"boiler-1","site":"own"}');
  assert.equal(native.ingest(Buffer.from('m v=1'), { format: 'lp', nowMs: NOW, outputs: [{ encoding: 'columns' }], labels: '' }).outputs[0]!.seriesDefs!.toString(), '{"__name__":"m_v"}');
});

test('ingestReadings takes series as objects or as one text (encodeLabels joined by U+0001), with the same result', () => {
  const series = [
    { __name__: 'zigbee_temperature', device: 'kitchen/climate', unit: '°C' },
    { __name__: 'zigbee_humidity', device: 'kitchen/climate', unit: '%' },
  ];
  const columns = { sampleSeries: Uint32Array.from([0, 1, 0]), timestamps: Float64Array.from([NOW, NOW, NOW + 1000]), values: Float64Array.from([21.5, 40, 21.75]) };
  const opts = { nowMs: NOW, outputs: [{ encoding: 'remote_write' as const }] };
  const asObjects = native.ingestReadings({ series, ...columns }, opts);
  const asText = native.ingestReadings({ series: [], seriesText: series.map(encodeLabels).join('\u0001'), ...columns }, opts);
  assert.equal(asText.samples, 3);
  assert.deepEqual(native.decodeRemoteWrite(asText.outputs[0]!.shards![0]!), native.decodeRemoteWrite(asObjects.outputs[0]!.shards![0]!));
  // A U+0001 in a value would split the text: encodeLabels leaves such a pair out.
  assert.equal(encodeLabels({ __name__: 'x', bad: 'a\u0001b', ok: 'y' }), '__name__\0x\0ok\0y');
  assert.throws(() => native.ingestReadings({ series: [], seriesText: '__name__\0x\0dangling', ...columns }, opts), /series 0 has an odd number of fields/);
  assert.throws(() => native.ingestReadings({ series, seriesText: 'a\0b', ...columns }, opts), /exclusive/);
});

test('a registered series is mapped under the options of each batch: other default labels, db or maxTags map it anew', () => {
  const id = native.registerSeries(encodeLabels({ __name__: 'modbus_voltage', unit_id: '1', unit: 'V' }));
  const nameless = native.registerSeries(encodeLabels({ unit: 'V' }));
  const write = (o: { labels?: Record<string, string>; db?: string; maxTags?: number }, ids = [id]) =>
    native.ingestReadings(
      { series: [], seriesIds: Uint32Array.from(ids), sampleSeries: Uint32Array.from(ids.map((_, i) => i)), timestamps: new Float64Array(ids.length).fill(NOW), values: new Float64Array(ids.length).fill(230) },
      { nowMs: NOW, outputs: [{ encoding: 'remote_write' as const }], db: o.db, maxTags: o.maxTags, labels: o.labels === undefined ? undefined : encodeLabels(o.labels) },
    );
  const labels = (r: ReturnType<typeof write>) => native.decodeRemoteWrite(r.outputs[0]!.shards![0]!).map((s) => s.labels);
  const own = { __name__: 'modbus_voltage', unit_id: '1', unit: 'V' };
  try {
    assert.deepEqual(labels(write({ labels: { connector: 'a' } })), [{ ...own, connector: 'a' }]);
    assert.deepEqual(labels(write({ labels: { connector: 'b' } })), [{ ...own, connector: 'b' }]);
    assert.deepEqual(labels(write({ labels: { connector: 'a', unit: 'kV' } })), [{ ...own, connector: 'a' }], 'its own label wins over a default');
    assert.deepEqual(labels(write({ db: 'plant' })), [{ ...own, db: 'plant' }]);
    assert.deepEqual(labels(write({})), [own]);
    const limited = write({ maxTags: 1 });
    assert.deepEqual([limited.samples, limited.rejected, limited.rejectedTags, limited.errors[0]?.reason], [0, 1, 1, 'point has more than 1 tags']);
    assert.equal(write({ maxTags: 2 }).samples, 1);
    // More option sets than are kept: the first ones are mapped again, not confused.
    for (let i = 0; i < 80; i++) assert.deepEqual(labels(write({ labels: { connector: `c${i}` } })), [{ ...own, connector: `c${i}` }]);
    assert.deepEqual(labels(write({ labels: { connector: 'a' } })), [{ ...own, connector: 'a' }]);
    const mixed = write({ labels: { connector: 'a' } }, [nameless, id]);
    assert.deepEqual([mixed.samples, mixed.rejected, mixed.errors[0]], [1, 1, { line: 1, reason: 'series has no __name__' }]);
  } finally {
    native.releaseSeries(id);
    native.releaseSeries(nameless);
  }
});

test('ingestReadings takes registered series by id (registerSeries), with the same result as their text; released ids are refused, then reused', () => {
  const series = [
    { __name__: 'modbus_voltage', connector: 'plant', unit_id: '1', unit: 'V' },
    { __name__: 'modbus_current', connector: 'plant', unit_id: '1', unit: 'A' },
  ];
  const columns = { sampleSeries: Uint32Array.from([1, 0, 1]), timestamps: Float64Array.from([NOW, NOW, NOW + 1000]), values: Float64Array.from([2.5, 230, 2.75]) };
  const opts = { nowMs: NOW, outputs: [{ encoding: 'remote_write' as const }], seriesHashes: true };
  const before = native.registeredSeries();
  const ids = series.map((s) => native.registerSeries(encodeLabels(s)));
  assert.equal(native.registeredSeries(), before + 2);
  const byId = native.ingestReadings({ series: [], seriesIds: Uint32Array.from(ids), ...columns }, opts);
  const byText = native.ingestReadings({ series: [], seriesText: series.map(encodeLabels).join('\u0001'), ...columns }, opts);
  assert.equal(byId.samples, 3);
  assert.deepEqual(native.decodeRemoteWrite(byId.outputs[0]!.shards![0]!), native.decodeRemoteWrite(byText.outputs[0]!.shards![0]!));
  assert.deepEqual(byId.seriesHashes, byText.seriesHashes);
  assert.throws(() => native.ingestReadings({ series: [], seriesText: 'a\0b', seriesIds: Uint32Array.from(ids), ...columns }, opts), /exclusive/);

  assert.equal(native.seriesText(ids[1]!), encodeLabels(series[1]!));
  assert.equal(native.releaseSeries(ids[0]!), true);
  assert.equal(native.releaseSeries(ids[0]!), false);
  assert.equal(native.seriesText(ids[0]!), null);
  assert.equal(native.registeredSeries(), before + 1);
  assert.throws(() => native.ingestReadings({ series: [], seriesIds: Uint32Array.from(ids), ...columns }, opts), new RegExp(`seriesIds\\[0\\]: no series ${ids[0]} is registered`));
  const again = native.registerSeries(encodeLabels({ __name__: 'modbus_power', unit: 'W' }));
  assert.equal(again, ids[0], 'a released id is given out again');
  const reused = native.ingestReadings({ series: [], seriesIds: Uint32Array.from([again]), sampleSeries: Uint32Array.from([0]), timestamps: Float64Array.from([NOW]), values: Float64Array.from([1]) }, opts);
  assert.deepEqual(native.decodeRemoteWrite(reused.outputs[0]!.shards![0]!)[0]!.labels, { __name__: 'modbus_power', unit: 'W' });
  for (const id of [again, ids[1]!]) native.releaseSeries(id);
  assert.throws(() => native.registerSeries('__name__\0x\u0001__name__\0y'), /one series expected, got 2/);
  assert.throws(() => native.registerSeries('__name__\0x\0odd'), /odd number of fields/);
});
