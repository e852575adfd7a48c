// The InfluxDB write API's wire format, as Telegraf and the client libraries
// speak it: which body format a request carries, its timestamp precision,
// and the reply to a write whose points were partly rejected.

import { SentioError } from '../../errors.js';
import type { IngestResult, Precision } from '../../native/types.js';
import type { WireFormat } from '../../pipeline/port.js';

/** Content-Type application/msgpack (or x-msgpack) selects the msgpack batch format (docs/protocol.md); anything else is line protocol. */
export function formatOf(contentType: string): WireFormat {
  return /^application\/(x-)?msgpack\b/i.test(contentType) ? 'msgpack' : 'lp';
}

const precisions: Record<string, Precision> = {
  n: 'ns', ns: 'ns', u: 'us', us: 'us', 'µ': 'us', ms: 'ms', s: 's', m: 'm', h: 'h',
};

/**
 * The precision named by an InfluxDB `precision` parameter (v1 spells
 * n/u/ms/s/m/h, v2 ns/us/ms/s); undefined for the protocol's default.
 */
export function parsePrecision(value: string | null, allowed: 'v1' | 'v2'): Precision | undefined {
  if (value === null || value === '') return undefined;
  const p = precisions[value];
  if (p === undefined || (allowed === 'v2' && (p === 'm' || p === 'h' || value.length === 1 && p !== 's'))) {
    const list = allowed === 'v1' ? 'n, u, ms, s, m or h' : 'ns, us, ms or s';
    throw new SentioError('SENTIO_ERR_BAD_PRECISION', `unsupported precision "${value}" (expected ${list})`);
  }
  return p;
}

/** The 400 body of a write whose good points were stored and others rejected (InfluxDB's `error`, plus ours). */
export function partialWrite(result: IngestResult): Record<string, unknown> {
  const message = `partial write: ${result.rejected} of ${result.lines} points rejected`;
  return { code: 'SENTIO_ERR_PARTIAL_WRITE', message, error: message, accepted: result.samples, rejected: result.rejected, errors: result.errors };
}

/** /query: only `CREATE DATABASE` is answered (a no-op success, as VictoriaMetrics does), so Telegraf's start-up succeeds. */
export function isCreateDatabase(q: string): boolean {
  return /^\s*create\s+database\b/i.test(q);
}
