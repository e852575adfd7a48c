// Versioned schema migrations, applied in order, each once. All pending ones
// run in one transaction that first takes a transaction-scoped advisory lock,
// so several gateway instances starting at once against one PostgreSQL
// serialise: the first applies them, the others wait, then find nothing left
// to do. schema_migrations itself is created under the lock too (a concurrent
// CREATE TABLE IF NOT EXISTS can otherwise fail on the catalog's unique index).
// Never edit a released migration: append a new one.
//
// Times are timestamptz(3): millisecond precision, so an ISO string read back
// from the store compares equal to the stored value (microseconds would make
// `until: entry.at` miss the entry itself).

import type { Executor } from './executor.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** pg_advisory_xact_lock key of the migration runner ('SENT' in ASCII). */
export const MIGRATION_LOCK_KEY = 0x53454e54;

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE users (
  id            text PRIMARY KEY,
  username      text NOT NULL,
  role          text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  password_hash text NOT NULL,
  disabled      boolean NOT NULL DEFAULT false,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  updated_at    timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE sessions (
  id          text PRIMARY KEY,
  user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  family_id   text NOT NULL,
  token_hash  text NOT NULL,
  expires_at  timestamptz(3) NOT NULL,
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  revoked_at  timestamptz(3),
  replaced_at timestamptz(3),
  CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_family_idx ON sessions (family_id);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE devices (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  description   text NOT NULL DEFAULT '',
  labels        jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  updated_at    timestamptz(3) NOT NULL DEFAULT now(),
  last_seen_at  timestamptz(3),
  last_error    text,
  last_error_at timestamptz(3),
  CONSTRAINT devices_name_key UNIQUE (name)
);

CREATE TABLE device_tokens (
  id           text PRIMARY KEY,
  device_id    text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  name         text NOT NULL DEFAULT '',
  hash         text NOT NULL,
  prefix       text NOT NULL,
  created_at   timestamptz(3) NOT NULL DEFAULT now(),
  expires_at   timestamptz(3),
  revoked_at   timestamptz(3),
  last_used_at timestamptz(3),
  CONSTRAINT device_tokens_hash_key UNIQUE (hash)
);
CREATE INDEX device_tokens_device_idx ON device_tokens (device_id, created_at);

CREATE TABLE alert_rules (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  expr        text NOT NULL,
  for_seconds integer NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
  severity    text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
  labels      jsonb NOT NULL DEFAULT '{}',
  annotations jsonb NOT NULL DEFAULT '{}',
  enabled     boolean NOT NULL DEFAULT true,
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  updated_at  timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT alert_rules_name_key UNIQUE (name)
);

CREATE TABLE connectors (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('mqtt', 'modbus', 'opcua', 'homeassistant')),
  config     jsonb NOT NULL DEFAULT '{}',
  enabled    boolean NOT NULL DEFAULT true,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT connectors_name_key UNIQUE (name)
);

CREATE TABLE audit_log (
  id      bigserial PRIMARY KEY,
  at      timestamptz(3) NOT NULL DEFAULT now(),
  actor   text NOT NULL,
  action  text NOT NULL,
  target  text NOT NULL DEFAULT '',
  ip      text NOT NULL DEFAULT '',
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);
-- text_pattern_ops: serves both the exact action and the 'device.' prefix (LIKE 'device.%').
CREATE INDEX audit_log_action_idx ON audit_log (action text_pattern_ops, id);
CREATE INDEX audit_log_target_idx ON audit_log (target, id);

CREATE TABLE settings (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 2,
    name: 'leases',
    // Who runs a cluster-wide job (a connector): one holder at a time, until
    // expires_at (the database's clock, so instances need not agree on time).
    sql: `
CREATE TABLE leases (
  name       text PRIMARY KEY,
  holder     text NOT NULL,
  expires_at timestamptz(3) NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'connector-source',
    // Who defines a connector: the API, or the YAML config file (`connectors`,
    // applied at start, read-only through the API). Existing ones came from the API.
    sql: `
ALTER TABLE connectors ADD COLUMN source text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'file'));
`,
  },
  {
    version: 4,
    name: 'user-models',
    // The anomaly model registry: versions of user ONNX models with their input
    // schema; at most one active version per name (shadows run beside it).
    sql: `
CREATE TABLE user_models (
  name        text NOT NULL,
  version     text NOT NULL,
  inputs      jsonb NOT NULL,
  output      text,
  onnx        bytea NOT NULL,
  sha256      text NOT NULL,
  size_bytes  integer NOT NULL,
  role        text NOT NULL CHECK (role IN ('active', 'shadow', 'retired')),
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  updated_at  timestamptz(3) NOT NULL DEFAULT now(),
  promoted_at timestamptz(3),
  CONSTRAINT user_models_pkey PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX user_models_one_active ON user_models (name) WHERE role = 'active';
`,
  },
  {
    version: 5,
    name: 'alerts',
    // The states of alert rules' alerts (src/alerts/evaluator.ts): one row per
    // rule and label set, pending or firing, or resolved and kept a while.
    sql: `
CREATE TABLE alerts (
  rule_id     text NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
  fingerprint text NOT NULL,
  labels      jsonb NOT NULL,
  annotations jsonb NOT NULL DEFAULT '{}',
  state       text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
  value       double precision NOT NULL,
  active_at   timestamptz(3) NOT NULL,
  fired_at    timestamptz(3),
  resolved_at timestamptz(3),
  updated_at  timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT alerts_pkey PRIMARY KEY (rule_id, fingerprint)
);
CREATE INDEX alerts_state_idx ON alerts (state);
-- A rule's grouping, inhibition and notification timing (groupBy, parentId,
-- inhibitLabels, repeatSeconds, cooldownSeconds), as one JSON object.
ALTER TABLE alert_rules ADD COLUMN spec jsonb NOT NULL DEFAULT '{}';
-- Silences: alerts whose labels match the selector are not notified within [starts_at, ends_at).
CREATE TABLE silences (
  id         text PRIMARY KEY,
  matchers   text NOT NULL,
  starts_at  timestamptz(3) NOT NULL,
  ends_at    timestamptz(3) NOT NULL,
  created_by text NOT NULL,
  comment    text NOT NULL DEFAULT '',
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at)
);
CREATE INDEX silences_ends_idx ON silences (ends_at);
`,
  },
];

/** Throws unless versions are positive integers, strictly increasing. */
export function checkMigrations(list: readonly Migration[]): void {
  let last = 0;
  for (const m of list) {
    if (!Number.isInteger(m.version) || m.version <= last) throw new Error(`migration ${m.version} (${m.name}): versions must be integers increasing from 1`);
    last = m.version;
  }
}

/**
 * Applies the pending migrations of `list` in one transaction under the
 * advisory lock; resolves with the schema version (the highest applied,
 * which may be above the list's when a newer gateway migrated this database).
 */
export async function migrate(db: Executor, list: readonly Migration[] = migrations): Promise<number> {
  checkMigrations(list);
  return db.transaction(async function applyMigrations(tx) {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz(3) NOT NULL DEFAULT now()
)`);
    const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => Number(r.version)));
    let version = Math.max(0, ...applied);
    for (const m of list) {
      if (applied.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2::text)', [m.version, m.name]);
      version = Math.max(version, m.version);
    }
    return version;
  });
}
