// A plain-TypeScript InfluxDB line-protocol parser: the baseline that
// bench/run.ts sets beside the native parser. It is meant to be the parser a
// careful TypeScript engineer would write, not a strawman:
//
// - one UTF-8 decode of the whole body, then charCodeAt scanning (no split(),
//   no regular expressions, no per-line or per-field objects);
// - measurement, tags, field keys and string values are recorded as
//   offsets into the text plus an "escaped" flag (unescape() on demand), as
//   a Rust parser hands out borrowed slices;
// - numbers are parsed in place: integers, and decimals by Clinger's fast
//   path (exact mantissa < 2^53 divided or multiplied by an exact power of
//   ten is correctly rounded), falling back to Number() for the rest;
// - nanosecond timestamps are kept exact as Unix ms plus a sub-ms remainder.
//
// It validates what InfluxDB validates: escapes (`\,` `\=` `\ ` `\"` `\\`),
// non-empty names, quoted strings, float / integer (`i`) / unsigned (`u`) /
// boolean values, int64 and uint64 ranges, integer timestamps; a bad line is
// reported as {line, reason} and the others kept.

export type Precision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

/** Values of LpBatch.fieldKind. */
export const FieldKind = { Float: 0, Int: 1, Uint: 2, Bool: 3, String: 4 } as const;

export interface LineError {
  line: number;
  reason: string;
}

/** Parsed points as columns of offsets and numbers, reused across calls. */
export class LpBatch {
  /** The decoded text that all offsets point into. */
  text = '';
  points = 0;
  rejected = 0;
  fields = 0;
  errors: LineError[] = [];

  // per point
  measurementEnd = new Int32Array(1024); // measurement starts at seriesStart
  seriesStart = new Int32Array(1024); // measurement + tags: [seriesStart, seriesEnd)
  seriesEnd = new Int32Array(1024);
  firstTag = new Int32Array(1025);
  firstField = new Int32Array(1025);
  escaped = new Uint8Array(1024);
  timestampMs = new Float64Array(1024);
  timestampSubMsNs = new Int32Array(1024);
  // per tag: key start, key end, value start, value end
  tags = new Int32Array(4096 * 4);
  tagCount = 0;
  // per field
  fieldKey = new Int32Array(4096 * 2);
  fieldKind = new Uint8Array(4096);
  fieldValue = new Float64Array(4096);
  /** String fields: value offsets (inside the quotes) in fieldKey-like pairs. */
  fieldString = new Int32Array(4096 * 2);

  reset(text: string): void {
    this.text = text;
    this.points = 0;
    this.rejected = 0;
    this.fields = 0;
    this.tagCount = 0;
    this.errors = [];
  }

  /** Room for one more point; grows the per-point columns. */
  ensurePoint(): void {
    const n = this.points;
    if (n + 1 < this.seriesStart.length) return;
    const cap = this.seriesStart.length * 2;
    this.measurementEnd = grow(this.measurementEnd, cap);
    this.seriesStart = grow(this.seriesStart, cap);
    this.seriesEnd = grow(this.seriesEnd, cap);
    this.firstTag = grow(this.firstTag, cap + 1);
    this.firstField = grow(this.firstField, cap + 1);
    this.escaped = grow(this.escaped, cap);
    this.timestampMs = grow(this.timestampMs, cap);
    this.timestampSubMsNs = grow(this.timestampSubMsNs, cap);
  }

  ensureTag(): void {
    if ((this.tagCount + 1) * 4 <= this.tags.length) return;
    this.tags = grow(this.tags, this.tags.length * 2);
  }

  ensureField(i: number): void {
    if (i + 1 <= this.fieldKind.length) return;
    const cap = this.fieldKind.length * 2;
    this.fieldKey = grow(this.fieldKey, cap * 2);
    this.fieldKind = grow(this.fieldKind, cap);
    this.fieldValue = grow(this.fieldValue, cap);
    this.fieldString = grow(this.fieldString, cap * 2);
  }
}

type TypedArray = Int32Array | Uint8Array | Float64Array;
function grow<T extends TypedArray>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

/** Removes line-protocol backslash escapes from text[start, end). */
export function unescape(text: string, start: number, end: number): string {
  const raw = text.slice(start, end);
  return raw.indexOf('\\') < 0 ? raw : raw.replace(/\\([,= "\\])/g, '$1');
}

const C_NL = 10;
const C_CR = 13;
const C_SPACE = 32;
const C_TAB = 9;
const C_QUOTE = 34;
const C_HASH = 35;
const C_COMMA = 44;
const C_MINUS = 45;
const C_PLUS = 43;
const C_DOT = 46;
const C_0 = 48;
const C_9 = 57;
const C_EQ = 61;
const C_BACKSLASH = 92;

const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
const INT64_MAX = '9223372036854775807';
const INT64_MIN_ABS = '9223372036854775808';
const UINT64_MAX = '18446744073709551615';
const MS_PER: Record<Precision, number> = { ns: 0, us: 0, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/** Parse failure inside a line: thrown and caught per line, rare by design. */
class LineSyntaxError {
  constructor(readonly reason: string) {}
}

/** Whether the digit string text[start, end) is ≤ the decimal `max` of the same kind. */
function digitsWithin(text: string, start: number, end: number, max: string): boolean {
  const n = end - start;
  if (n !== max.length) return n < max.length;
  return text.slice(start, end) <= max;
}

/**
 * Parses a float literal text[start, end): [-+]?digits[.digits][(e|E)[-+]?digits]
 * (also ".5", "5."), as InfluxDB accepts; NaN marks a syntax error.
 */
function parseFloatAt(text: string, start: number, end: number): number {
  let i = start;
  let neg = false;
  let c = text.charCodeAt(i);
  if (c === C_MINUS || c === C_PLUS) {
    neg = c === C_MINUS;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  let sawDigit = false;
  for (; i < end; i++) {
    c = text.charCodeAt(i);
    if (c < C_0 || c > C_9) break;
    sawDigit = true;
    if (digits < 16) {
      mantissa = mantissa * 10 + (c - C_0);
      if (mantissa !== 0) digits++;
    } else scale++;
  }
  if (i < end && text.charCodeAt(i) === C_DOT) {
    for (i++; i < end; i++) {
      c = text.charCodeAt(i);
      if (c < C_0 || c > C_9) break;
      sawDigit = true;
      if (digits < 16) {
        mantissa = mantissa * 10 + (c - C_0);
        if (mantissa !== 0) digits++;
        scale--;
      }
    }
  }
  if (!sawDigit) return Number.NaN;
  let exp = 0;
  if (i < end) {
    c = text.charCodeAt(i);
    if (c !== 101 /* e */ && c !== 69 /* E */) return Number.NaN;
    i++;
    let expNeg = false;
    c = text.charCodeAt(i);
    if (c === C_MINUS || c === C_PLUS) {
      expNeg = c === C_MINUS;
      i++;
    }
    const expStart = i;
    for (; i < end; i++) {
      c = text.charCodeAt(i);
      if (c < C_0 || c > C_9) return Number.NaN;
      if (exp < 100_000) exp = exp * 10 + (c - C_0);
    }
    if (i === expStart) return Number.NaN;
    if (expNeg) exp = -exp;
  }
  const e10 = scale + exp;
  let v: number;
  if (digits <= 15 && e10 >= -22 && e10 <= 22) {
    // Clinger's fast path: both operands exact, one rounding.
    v = e10 < 0 ? mantissa / POW10[-e10]! : mantissa * POW10[e10]!;
  } else {
    v = Number(text.slice(start, end)); // syntax already checked
  }
  if (!Number.isFinite(v)) return Number.NaN;
  return neg ? -v : v;
}

/**
 * Parses `text` (a whole request body) into `out`. Lines are separated by
 * \n (a trailing \r is dropped); blank lines and # comments are skipped.
 * Points without a timestamp get `nowMs`.
 */
export function parseLineProtocolText(text: string, out: LpBatch, precision: Precision = 'ns', nowMs = Date.now()): void {
  out.reset(text);
  const len = text.length;
  let lineNo = 0;
  let pos = 0;
  let fieldIndex = 0;
  while (pos < len) {
    lineNo++;
    let end = text.indexOf('\n', pos);
    if (end < 0) end = len;
    const next = end + 1;
    if (end > pos && text.charCodeAt(end - 1) === C_CR) end--;
    // leading whitespace, blank lines, comments
    let i = pos;
    let c = text.charCodeAt(i);
    while (i < end && (c === C_SPACE || c === C_TAB)) c = text.charCodeAt(++i);
    if (i >= end || c === C_HASH) {
      pos = next;
      continue;
    }
    out.ensurePoint();
    const p = out.points;
    const tagMark = out.tagCount;
    const fieldMark = fieldIndex;
    try {
      let escaped = 0;
      // measurement
      const mStart = i;
      for (; i < end; i++) {
        c = text.charCodeAt(i);
        if (c === C_COMMA || c === C_SPACE) break;
        if (c === C_BACKSLASH) {
          escaped = 1;
          i++;
        }
      }
      if (i === mStart) throw new LineSyntaxError('missing measurement');
      if (i >= end) throw new LineSyntaxError('missing fields');
      out.seriesStart[p] = mStart;
      out.measurementEnd[p] = i;
      out.firstTag[p] = out.tagCount;
      // tags
      while (c === C_COMMA) {
        const kStart = ++i;
        for (; i < end; i++) {
          c = text.charCodeAt(i);
          if (c === C_EQ || c === C_COMMA || c === C_SPACE) break;
          if (c === C_BACKSLASH) {
            escaped = 1;
            i++;
          }
        }
        if (i >= end || c !== C_EQ) throw new LineSyntaxError('missing tag value');
        if (i === kStart) throw new LineSyntaxError('missing tag key');
        const kEnd = i;
        const vStart = ++i;
        for (; i < end; i++) {
          c = text.charCodeAt(i);
          if (c === C_COMMA || c === C_SPACE) break;
          if (c === C_EQ) throw new LineSyntaxError('unescaped "=" in tag value');
          if (c === C_BACKSLASH) {
            escaped = 1;
            i++;
          }
        }
        if (i === vStart) throw new LineSyntaxError('missing tag value');
        if (i >= end) throw new LineSyntaxError('missing fields');
        out.ensureTag();
        const t = out.tagCount++ * 4;
        out.tags[t] = kStart;
        out.tags[t + 1] = kEnd;
        out.tags[t + 2] = vStart;
        out.tags[t + 3] = i;
      }
      out.seriesEnd[p] = i;
      // one or more spaces
      while (i < end && text.charCodeAt(i) === C_SPACE) i++;
      if (i >= end) throw new LineSyntaxError('missing fields');
      out.firstField[p] = fieldIndex;
      // fields
      for (;;) {
        const kStart = i;
        for (; i < end; i++) {
          c = text.charCodeAt(i);
          if (c === C_EQ || c === C_COMMA || c === C_SPACE) break;
          if (c === C_BACKSLASH) {
            escaped = 1;
            i++;
          }
        }
        if (i >= end || c !== C_EQ) throw new LineSyntaxError('missing field value');
        if (i === kStart) throw new LineSyntaxError('missing field key');
        out.ensureField(fieldIndex);
        const f = fieldIndex++;
        out.fieldKey[f * 2] = kStart;
        out.fieldKey[f * 2 + 1] = i;
        const vStart = ++i;
        if (i >= end) throw new LineSyntaxError('missing field value');
        c = text.charCodeAt(i);
        if (c === C_QUOTE) {
          // string: up to the closing unescaped quote
          for (i++; i < end; i++) {
            c = text.charCodeAt(i);
            if (c === C_QUOTE) break;
            if (c === C_BACKSLASH) {
              escaped = 1;
              i++;
            }
          }
          if (i >= end) throw new LineSyntaxError('unterminated string field');
          out.fieldKind[f] = FieldKind.String;
          out.fieldString[f * 2] = vStart + 1;
          out.fieldString[f * 2 + 1] = i;
          out.fieldValue[f] = 0;
          i++;
          c = i < end ? text.charCodeAt(i) : 0;
          if (i < end && c !== C_COMMA && c !== C_SPACE) throw new LineSyntaxError('junk after string field');
        } else {
          for (; i < end; i++) {
            c = text.charCodeAt(i);
            if (c === C_COMMA || c === C_SPACE) break;
          }
          if (i === vStart) throw new LineSyntaxError('missing field value');
          const last = text.charCodeAt(i - 1);
          if (last === 105 /* i */ || last === 117 /* u */) {
            // integer: [-]digits then i, or digits then u
            let d = vStart;
            const neg = text.charCodeAt(d) === C_MINUS;
            if (neg) {
              if (last === 117) throw new LineSyntaxError('negative unsigned integer');
              d++;
            }
            const dEnd = i - 1;
            if (d === dEnd) throw new LineSyntaxError('invalid integer');
            let v = 0;
            for (let k = d; k < dEnd; k++) {
              const ch = text.charCodeAt(k);
              if (ch < C_0 || ch > C_9) throw new LineSyntaxError('invalid integer');
              v = v * 10 + (ch - C_0);
            }
            if (dEnd - d > 15) {
              const max = last === 117 ? UINT64_MAX : neg ? INT64_MIN_ABS : INT64_MAX;
              if (!digitsWithin(text, d, dEnd, max)) throw new LineSyntaxError('integer out of range');
              v = Number(text.slice(d, dEnd)); // correctly rounded to f64
            }
            out.fieldKind[f] = last === 105 ? FieldKind.Int : FieldKind.Uint;
            out.fieldValue[f] = neg ? -v : v;
          } else {
            const first = text.charCodeAt(vStart);
            if (first === 116 || first === 84 || first === 102 || first === 70) {
              // t T true True TRUE f F false False FALSE
              const n = i - vStart;
              const word = n === 1 ? '' : text.slice(vStart, i);
              let b: number;
              if (n === 1) b = first === 116 || first === 84 ? 1 : 0;
              else if (word === 'true' || word === 'True' || word === 'TRUE') b = 1;
              else if (word === 'false' || word === 'False' || word === 'FALSE') b = 0;
              else throw new LineSyntaxError('invalid boolean');
              out.fieldKind[f] = FieldKind.Bool;
              out.fieldValue[f] = b;
            } else {
              const v = parseFloatAt(text, vStart, i);
              if (v !== v) throw new LineSyntaxError('invalid number');
              out.fieldKind[f] = FieldKind.Float;
              out.fieldValue[f] = v;
            }
          }
        }
        if (c !== C_COMMA || i >= end) break;
        i++;
      }
      // timestamp
      while (i < end && text.charCodeAt(i) === C_SPACE) i++;
      let tEnd = end;
      while (tEnd > i && (text.charCodeAt(tEnd - 1) === C_SPACE || text.charCodeAt(tEnd - 1) === C_TAB)) tEnd--;
      if (i >= tEnd) {
        out.timestampMs[p] = nowMs;
        out.timestampSubMsNs[p] = 0;
      } else {
        const neg = text.charCodeAt(i) === C_MINUS;
        const dStart = neg ? i + 1 : i;
        if (dStart >= tEnd || tEnd - dStart > 19) throw new LineSyntaxError('invalid timestamp');
        // Split off the sub-millisecond digits so the ms part stays exact.
        const sub = precision === 'ns' ? 6 : precision === 'us' ? 3 : 0;
        const split = Math.max(dStart, tEnd - sub);
        let hi = 0;
        let lo = 0;
        for (let k = dStart; k < tEnd; k++) {
          const ch = text.charCodeAt(k);
          if (ch < C_0 || ch > C_9) throw new LineSyntaxError('invalid timestamp');
          if (k < split) hi = hi * 10 + (ch - C_0);
          else lo = lo * 10 + (ch - C_0);
        }
        if (tEnd - dStart === 19 && !digitsWithin(text, dStart, tEnd, neg ? INT64_MIN_ABS : INT64_MAX)) throw new LineSyntaxError('timestamp out of range');
        let ms: number;
        let subNs: number;
        if (sub === 0) {
          ms = hi * MS_PER[precision];
          subNs = 0;
        } else {
          // lo holds the last `sub` digits (fewer for a short number): ns or µs
          ms = hi;
          subNs = precision === 'ns' ? lo : lo * 1000;
        }
        if (neg) {
          ms = -ms;
          subNs = -subNs;
        }
        out.timestampMs[p] = ms;
        out.timestampSubMsNs[p] = subNs;
      }
      out.escaped[p] = escaped;
      out.points = p + 1;
      out.firstTag[p + 1] = out.tagCount;
      out.firstField[p + 1] = fieldIndex;
      out.fields += fieldIndex - fieldMark;
    } catch (err) {
      if (!(err instanceof LineSyntaxError)) throw err;
      out.tagCount = tagMark;
      fieldIndex = fieldMark;
      out.rejected++;
      if (out.errors.length < 100) out.errors.push({ line: lineNo, reason: err.reason });
    }
    pos = next;
  }
}

export interface TsParseStats {
  lines: number;
  rejected: number;
  fields: number;
  bytes: number;
}

const shared = new LpBatch();

/** Decodes and parses one body; the same counts as native.parseLineProtocol. */
export function tsParseLineProtocol(buf: Buffer, precision: Precision = 'ns', batch: LpBatch = shared): TsParseStats {
  parseLineProtocolText(buf.toString('utf8'), batch, precision);
  return { lines: batch.points + batch.rejected, rejected: batch.rejected, fields: batch.fields, bytes: buf.byteLength };
}
