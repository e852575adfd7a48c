// What an OPC-UA DataValue becomes: a sample's value and timestamp, or a
// reason it is not one.
//
// - Numbers of every built-in numeric type are values (Int64 and UInt64, which
//   node-opcua gives as [high, low] 32-bit words, lose precision beyond 2^53
//   like every float64 sample); booleans are 1 and 0. Anything else (text,
//   arrays, structures) is not a value: counted as unparseable.
// - A status other than Good (Uncertain included: the value is a guess) is
//   not written: counted by its name (BadSensorFailure...).
// - The time is the value's sourceTimestamp (when the device measured it),
//   else its serverTimestamp, else when it was received. A timestamp at or
//   before 1970 is a server sending none (OPC-UA's minimum is 1601).

import { type DataValue, DataType, VariantArrayType } from 'node-opcua';

export type Decoded = { ok: true; value: number; timestampMs: number } | { ok: false; status: string } | { ok: false; unparseable: string };

/** The value of `dv` as a number, or undefined when it is not one. */
export function numeric(dv: DataValue): number | undefined {
  const v = dv.value;
  if (v === null || v === undefined || v.arrayType !== VariantArrayType.Scalar) return undefined;
  switch (v.dataType) {
    case DataType.Boolean:
      return v.value === true ? 1 : 0;
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Float:
    case DataType.Double:
      return typeof v.value === 'number' ? v.value : undefined;
    case DataType.Int64:
    case DataType.UInt64: {
      const [high, low] = v.value as [number, number];
      // node-opcua's Int64 high word is signed already.
      return high * 4294967296 + low;
    }
    default:
      return undefined;
  }
}

function timeOf(d: Date | null | undefined): number | undefined {
  const t = d?.getTime();
  return t !== undefined && Number.isFinite(t) && t > 0 ? t : undefined;
}

/** A status code's name without its info bits (BadSensorFailure for BadSensorFailure#Overflow). */
export function statusName(name: string): string {
  const i = name.indexOf('#');
  return i < 0 ? name : name.slice(0, i);
}

export function decode(dv: DataValue, receivedAtMs: number): Decoded {
  if (dv.statusCode.isNotGood()) return { ok: false, status: statusName(dv.statusCode.name) };
  const value = numeric(dv);
  if (value === undefined || !Number.isFinite(value)) {
    const type = dv.value === null ? 'no value' : `${DataType[dv.value.dataType] ?? 'unknown type'}${dv.value.arrayType !== VariantArrayType.Scalar ? ' array' : ''}`;
    return { ok: false, unparseable: `a value of type ${type} is not a number` };
  }
  return { ok: true, value, timestampMs: timeOf(dv.sourceTimestamp) ?? timeOf(dv.serverTimestamp) ?? receivedAtMs };
}
