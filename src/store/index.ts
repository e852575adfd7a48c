// The metadata store: users, sessions, devices and their tokens, alert rules,
// connector configs, the audit log and settings (interface in types.ts).
//
// Design: one MetaStore implementation (sql.ts) over a tiny executor
// (executor.ts) with two drivers, `postgres` (--postgres URL, a pool of 10)
// and PGlite (`<dataDir>/meta`, the embedded default), so both backends run
// exactly the same SQL and migrations (migrations.ts); one conformance suite
// (conformance.ts) runs against both in index.test.ts.
//
// Edge cases:
// - Migrations run in one transaction under pg_advisory_xact_lock: instances
//   starting together serialise; the later ones find nothing to apply.
// - Times are timestamptz(3) and come back as ISO strings in UTC, so a value
//   read back compares equal to the stored one.
// - Unique clashes (23505) and references to a missing row (23503, e.g. a
//   token for a deleted device) throw StoreConflictError.
// - rotateSession locks the token's row (SELECT … FOR UPDATE): of two
//   concurrent exchanges of one token, one rotates, the other sees it
//   replaced and revokes the family ('reused'). A replaced token counts as
//   reuse even when expired; revoked or unknown is 'invalid'.
// - recordDeviceActivity is one UPDATE per batch and never moves lastSeenAt
//   or lastErrorAt backwards; markDeviceTokensUsed likewise.
// - setSettingIfAbsent: INSERT … ON CONFLICT DO NOTHING, then a separate
//   SELECT (a fresh snapshot) when another instance won.
// - listAudit: newest first by id; `before` pages backwards; `since` is
//   inclusive, `until` exclusive; an action ending in '.' is a prefix.
// - applyFileConnectors (the config file's connectors, source 'file') runs in
//   one transaction under its own advisory lock, so instances starting
//   together with one file serialise and the later ones change nothing; a
//   unique clash with a concurrent API create is retried (it then shows as
//   a clash). Connectors of source 'api' are never changed by it.
// - PGlite is a single connection and must not be opened by two processes.

import { join } from 'node:path';
import type { Executor } from './executor.js';
import { SqlStore } from './sql.js';
import type { MetaStore } from './types.js';

export * from './types.js';

export interface StoreOptions {
  /** A PostgreSQL URL; without it, PGlite under `<dataDir>/meta`. */
  postgres?: string;
  dataDir: string;
}

/** Opens the backend the options name and applies pending migrations. */
export async function openStore(opts: StoreOptions): Promise<MetaStore> {
  // Each backend is loaded only when chosen (PGlite's WebAssembly runtime alone is tens of MB).
  const db: Executor = opts.postgres ? (await import('./postgres.js')).openPostgres(opts.postgres) : await (await import('./pglite.js')).openPglite(join(opts.dataDir, 'meta'));
  const store = new SqlStore(db);
  try {
    await store.migrate();
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  return store;
}
