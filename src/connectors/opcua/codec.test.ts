import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataType, DataValue, StatusCodes, Variant, VariantArrayType } from 'node-opcua';
import { decode, statusName } from './codec.js';

const T = new Date('2026-01-02T03:04:05.678Z');
const S = new Date('2026-01-02T03:04:06.000Z');

function dv(dataType: DataType, value: unknown, o: { status?: typeof StatusCodes.Good; source?: Date | null; server?: Date | null; array?: boolean } = {}): DataValue {
  return new DataValue({
    value: new Variant({ dataType, value, arrayType: o.array ? VariantArrayType.Array : VariantArrayType.Scalar }),
    statusCode: o.status ?? StatusCodes.Good,
    sourceTimestamp: o.source === undefined ? T : o.source,
    serverTimestamp: o.server === undefined ? S : o.server,
  });
}

test('numbers of every built-in type, and booleans as 1 and 0, stamped with the source timestamp', () => {
  for (const [type, v] of [[DataType.Double, 1.5], [DataType.Float, 2], [DataType.Int16, -3], [DataType.UInt32, 4_000_000_000], [DataType.Byte, 7], [DataType.SByte, -7]] as const) {
    assert.deepEqual(decode(dv(type, v), 0), { ok: true, value: v, timestampMs: T.getTime() });
  }
  assert.deepEqual(decode(dv(DataType.Boolean, true), 0), { ok: true, value: 1, timestampMs: T.getTime() });
  assert.deepEqual(decode(dv(DataType.Boolean, false), 0), { ok: true, value: 0, timestampMs: T.getTime() });
  assert.equal((decode(dv(DataType.Int64, [0, 5]), 0) as { value: number }).value, 5);
  assert.equal((decode(dv(DataType.Int64, [-1, 0xffffffff]), 0) as { value: number }).value, -1);
  assert.equal((decode(dv(DataType.UInt64, [1, 2]), 0) as { value: number }).value, 4294967298);
});

test('the time falls back to the server timestamp, then to the time received', () => {
  assert.equal((decode(dv(DataType.Double, 1, { source: null }), 42) as { timestampMs: number }).timestampMs, S.getTime());
  assert.equal((decode(dv(DataType.Double, 1, { source: null, server: null }), 42) as { timestampMs: number }).timestampMs, 42);
  // OPC-UA's minimum date (1601) is a server sending no timestamp.
  assert.equal((decode(dv(DataType.Double, 1, { source: new Date(Date.UTC(1601, 0, 1)), server: null }), 42) as { timestampMs: number }).timestampMs, 42);
});

test('a status other than Good is named, not a value; text, arrays and NaN are not numbers', () => {
  assert.deepEqual(decode(dv(DataType.Double, 1, { status: StatusCodes.BadSensorFailure }), 0), { ok: false, status: 'BadSensorFailure' });
  assert.deepEqual(decode(dv(DataType.Double, 1, { status: StatusCodes.UncertainLastUsableValue }), 0), { ok: false, status: 'UncertainLastUsableValue' });
  assert.deepEqual(decode(dv(DataType.String, 'on'), 0), { ok: false, unparseable: 'a value of type String is not a number' });
  assert.deepEqual(decode(dv(DataType.Double, [1, 2], { array: true }), 0), { ok: false, unparseable: 'a value of type Double array is not a number' });
  assert.deepEqual(decode(dv(DataType.Double, Number.NaN), 0), { ok: false, unparseable: 'a value of type Double is not a number' });
  assert.equal(statusName('BadSensorFailure#Overflow'), 'BadSensorFailure');
});
