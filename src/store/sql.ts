// The one MetaStore implementation, over an Executor (executor.ts): the same
// SQL runs on PostgreSQL and on PGlite. See index.ts for the design notes.

import { randomUUID } from 'node:crypto';
import type { AlertInstance } from '../alerts/types.js';
import { SentioError } from '../errors.js';
import type { Executor, Param, Queryable, Row } from './executor.js';
import { migrate } from './migrations.js';
import {
  alertRuleSpecDefaults,
  type AlertRule,
  type AlertRuleSpec,
  type NewSilence,
  type StoredSilence,
  type AlertRulePatch,
  type AuditEntry,
  type AuditQuery,
  type ConnectorConfig,
  type ConnectorConfigPatch,
  type ConnectorVersion,
  type Device,
  type DeviceActivity,
  type DevicePatch,
  type DeviceToken,
  type FileConnector,
  type FileConnectorsResult,
  type MetaStore,
  type NewAlertRule,
  type NewAuditEntry,
  type NewConnectorConfig,
  type NewDevice,
  type NewDeviceToken,
  type NewSession,
  type NewUser,
  type RotateResult,
  type Session,
  StoreConflictError,
  type User,
  MAX_TOKEN_LOOKUP,
  type UserPatch,
  type UserRecord,
  type NewUserModel,
  type UserModel,
  type UserModelRecord,
} from './types.js';

// ---- row mapping ----

function iso(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  return new Date(String(v)).toISOString();
}

function isoOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : iso(v);
}

/** jsonb columns arrive parsed from both drivers; anything else means JSON was stored double-encoded. */
function json<T>(v: unknown): T {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`store: expected a JSON object from the database, got ${typeof v}`);
  return v as T;
}

function toUser(r: Row): User {
  return {
    id: r.id as string,
    username: r.username as string,
    role: r.role as User['role'],
    disabled: r.disabled as boolean,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toUserRecord(r: Row): UserRecord {
  return { ...toUser(r), passwordHash: r.password_hash as string };
}

function toSession(r: Row): Session {
  return {
    id: r.id as string,
    userId: r.user_id as string,
    familyId: r.family_id as string,
    expiresAt: iso(r.expires_at),
    createdAt: iso(r.created_at),
    revokedAt: isoOrNull(r.revoked_at),
    replacedAt: isoOrNull(r.replaced_at),
  };
}

function toDevice(r: Row): Device {
  return {
    id: r.id as string,
    name: r.name as string,
    description: r.description as string,
    labels: json(r.labels),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    lastSeenAt: isoOrNull(r.last_seen_at),
    lastError: (r.last_error as string | null) ?? null,
    lastErrorAt: isoOrNull(r.last_error_at),
  };
}

function toToken(r: Row): DeviceToken {
  return {
    id: r.id as string,
    deviceId: r.device_id as string,
    name: r.name as string,
    prefix: r.prefix as string,
    createdAt: iso(r.created_at),
    expiresAt: isoOrNull(r.expires_at),
    revokedAt: isoOrNull(r.revoked_at),
    lastUsedAt: isoOrNull(r.last_used_at),
  };
}

function toAlertRule(r: Row): AlertRule {
  return {
    id: r.id as string,
    name: r.name as string,
    expr: r.expr as string,
    forSeconds: Number(r.for_seconds),
    severity: r.severity as AlertRule['severity'],
    labels: json(r.labels),
    annotations: json(r.annotations),
    enabled: r.enabled as boolean,
    ...alertRuleSpecDefaults,
    ...json<Partial<AlertRuleSpec>>(r.spec),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** The spec fields present in `r`. */
function specOf(r: Partial<AlertRuleSpec>): Partial<AlertRuleSpec> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(alertRuleSpecDefaults) as (keyof AlertRuleSpec)[]) if (r[k] !== undefined) out[k] = r[k];
  return out as Partial<AlertRuleSpec>;
}

function toAlert(r: Row): AlertInstance {
  return {
    ruleId: r.rule_id as string,
    fingerprint: r.fingerprint as string,
    labels: json(r.labels),
    annotations: json(r.annotations),
    state: r.state as AlertInstance['state'],
    value: Number(r.value),
    activeAt: iso(r.active_at),
    firedAt: isoOrNull(r.fired_at),
    resolvedAt: isoOrNull(r.resolved_at),
  };
}

function toSilence(r: Row): StoredSilence {
  return {
    id: r.id as string,
    matchers: r.matchers as string,
    startsAt: iso(r.starts_at),
    endsAt: iso(r.ends_at),
    createdBy: r.created_by as string,
    comment: r.comment as string,
    createdAt: iso(r.created_at),
  };
}

function toConnector(r: Row): ConnectorConfig {
  return {
    id: r.id as string,
    name: r.name as string,
    kind: r.kind as ConnectorConfig['kind'],
    config: json(r.config),
    enabled: r.enabled as boolean,
    source: r.source as ConnectorConfig['source'],
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toAudit(r: Row): AuditEntry {
  return {
    id: String(r.id),
    at: iso(r.at),
    actor: r.actor as string,
    action: r.action as string,
    target: r.target as string,
    ip: r.ip as string,
    details: json(r.details),
  };
}

/** user_models columns but the bytes. */
const USER_MODEL_COLUMNS = 'name, version, inputs, output, sha256, size_bytes, role, created_at, updated_at, promoted_at';

function toUserModel(r: Row): UserModel {
  const inputs = r.inputs;
  if (!Array.isArray(inputs)) throw new TypeError(`store: expected a JSON array of inputs from the database, got ${typeof inputs}`);
  return {
    name: r.name as string,
    version: r.version as string,
    inputs: inputs as string[],
    output: (r.output as string | null) ?? null,
    sha256: r.sha256 as string,
    sizeBytes: Number(r.size_bytes),
    role: r.role as UserModel['role'],
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    promotedAt: isoOrNull(r.promoted_at),
  };
}

// ---- errors ----

const conflictMessages: Record<string, string> = {
  users_username_key: 'a user with this username already exists',
  sessions_token_hash_key: 'a session with this token already exists',
  devices_name_key: 'a device with this name already exists',
  device_tokens_hash_key: 'a token with this hash already exists',
  alert_rules_name_key: 'an alert rule with this name already exists',
  connectors_name_key: 'a connector with this name already exists',
  user_models_pkey: 'an anomaly model with this name and version already exists',
  user_models_one_active: 'another version of this anomaly model became active meanwhile',
  device_tokens_device_id_fkey: 'no such device',
  sessions_user_id_fkey: 'no such user',
};

/**
 * Failures that mean the database, not the statement, is the problem:
 * SQLSTATE classes 08 (connection), 53 (resources), 57 (operator
 * intervention, e.g. shutting down); the drivers' own connection errors
 * (postgres.js: ECONNREFUSED, CONNECT_TIMEOUT, CONNECTION_CLOSED...); and a
 * closed PGlite, which throws a plain "PGlite is closed".
 */
function unavailable(err: { code?: string; message?: string }): boolean {
  const code = err.code;
  if (typeof code === 'string') return /^(08|53|57)[0-9A-Z]{3}$|^E[A-Z]+$|^CONNECT_TIMEOUT$|^CONNECTION_[A-Z]+$/.test(code);
  return /\bis closed\b/.test(err.message ?? '');
}

/**
 * Unique violations (23505) and dangling references (23503) become
 * StoreConflictError; an unreachable database SENTIO_ERR_STORE_UNAVAILABLE
 * (callers answer 503, retry later); anything else is thrown as it is.
 */
function mapError(e: unknown): never {
  const err = e as { code?: string; constraint?: string; constraint_name?: string; message?: string };
  if (err && (err.code === '23505' || err.code === '23503')) {
    const constraint = err.constraint ?? err.constraint_name ?? '';
    throw new StoreConflictError(conflictMessages[constraint] ?? `conflict: ${err.message ?? constraint}`, { cause: e });
  }
  if (err && unavailable(err)) throw new SentioError('SENTIO_ERR_STORE_UNAVAILABLE', `metadata store unavailable: ${err.message ?? String(e)}`, { cause: e });
  throw e;
}

async function q<T extends Row = Row>(db: Queryable, text: string, params: readonly Param[] = []): Promise<T[]> {
  try {
    return await db.query<T>(text, params);
  } catch (e) {
    mapError(e);
  }
}

const nullable = <T extends Param>(v: T | undefined): T | null => (v === undefined ? null : v);
const jsonOrNull = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

/** bigserial ids as text: exact whatever the driver does with int8. */
const AUDIT_COLUMNS = 'id::text AS id, at, actor, action, target, ip, details';
const MAX_BIGINT = 2n ** 63n - 1n;
const AUDIT_DEFAULT_LIMIT = 100;
const AUDIT_MAX_LIMIT = 1000;

/** LIKE pattern matching strings that start with `prefix` literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** pg_advisory_xact_lock key of applyFileConnectors ('SENC'; the migrations' is 'SENT'). */
export const FILE_CONNECTORS_LOCK_KEY = 0x53454e43;
/** Tries of applyFileConnectors: an API create of a listed name can win the unique index between its read and its insert; read again. */
const FILE_CONNECTORS_TRIES = 3;

/** applyFileConnectors' work, inside one transaction (see MetaStore). */
async function applyFileConnectorsIn(tx: Queryable, list: readonly FileConnector[]): Promise<FileConnectorsResult> {
  // Instances starting together with one file serialise here; READ COMMITTED gives each
  // statement after the lock a fresh snapshot, so the later ones see what the first did.
  await q(tx, 'SELECT pg_advisory_xact_lock($1::bigint)', [FILE_CONNECTORS_LOCK_KEY]);
  const rows = (await q(tx, 'SELECT * FROM connectors ORDER BY name')).map(toConnector);
  const byName = new Map(rows.map((c) => [c.name, c]));
  const clashes = list.flatMap((f) => {
    const c = byName.get(f.name);
    return c !== undefined && c.source !== 'file' ? [c] : [];
  });
  const result: FileConnectorsResult = { created: [], updated: [], deleted: [], unchanged: 0, clashes };
  if (clashes.length > 0) return result;
  for (const f of list) {
    const params = [f.name, f.kind, JSON.stringify(f.config), f.enabled];
    if (!byName.has(f.name)) {
      const [r] = await q(tx, `INSERT INTO connectors (id, name, kind, config, enabled, source) VALUES ($5::text, $1::text, $2::text, $3::text::jsonb, $4::boolean, 'file') RETURNING *`, [...params, randomUUID()]);
      result.created.push(toConnector(r!));
      continue;
    }
    // jsonb equality ignores key order and formatting: only a real change touches updated_at (and restarts the connector).
    const [r] = await q(
      tx,
      `UPDATE connectors SET kind = $2::text, config = $3::text::jsonb, enabled = $4::boolean, updated_at = now()
       WHERE name = $1::text AND source = 'file' AND (kind, config, enabled) IS DISTINCT FROM ($2::text, $3::text::jsonb, $4::boolean) RETURNING *`,
      params,
    );
    if (r) result.updated.push(toConnector(r));
    else result.unchanged++;
  }
  const listed = new Set(list.map((f) => f.name));
  for (const c of rows) {
    if (c.source !== 'file' || listed.has(c.name)) continue;
    if ((await q(tx, `DELETE FROM connectors WHERE id = $1::text AND source = 'file' RETURNING id`, [c.id])).length > 0) result.deleted.push(c);
  }
  return result;
}

export class SqlStore implements MetaStore {
  readonly kind: 'postgres' | 'pglite';

  constructor(private readonly db: Executor) {
    this.kind = db.kind;
  }

  migrate(): Promise<number> {
    return migrate(this.db).catch(mapError);
  }

  async health(): Promise<void> {
    await q(this.db, 'SELECT 1');
  }

  close(): Promise<void> {
    return this.db.close();
  }

  // ---- users ----

  async createUser(u: NewUser): Promise<User> {
    const [r] = await q(this.db, 'INSERT INTO users (id, username, role, password_hash) VALUES ($1::text, $2::text, $3::text, $4::text) RETURNING *', [randomUUID(), u.username, u.role, u.passwordHash]);
    return toUser(r!);
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const [r] = await q(this.db, 'SELECT * FROM users WHERE id = $1::text', [id]);
    return r && toUserRecord(r);
  }

  async getUserByUsername(username: string): Promise<UserRecord | undefined> {
    const [r] = await q(this.db, 'SELECT * FROM users WHERE username = $1::text', [username]);
    return r && toUserRecord(r);
  }

  async listUsers(): Promise<User[]> {
    return (await q(this.db, 'SELECT * FROM users ORDER BY username')).map(toUser);
  }

  async countUsers(): Promise<number> {
    const [r] = await q<{ n: number }>(this.db, 'SELECT count(*)::integer AS n FROM users');
    return Number(r!.n);
  }

  async updateUser(id: string, patch: UserPatch): Promise<User | undefined> {
    const [r] = await q(
      this.db,
      `UPDATE users SET role = COALESCE($2::text, role), password_hash = COALESCE($3::text, password_hash),
         disabled = COALESCE($4::boolean, disabled), updated_at = now()
       WHERE id = $1::text RETURNING *`,
      [id, nullable(patch.role), nullable(patch.passwordHash), nullable(patch.disabled)],
    );
    return r && toUser(r);
  }

  async deleteUser(id: string): Promise<boolean> {
    return (await q(this.db, 'DELETE FROM users WHERE id = $1::text RETURNING id', [id])).length > 0;
  }

  // ---- sessions ----

  async createSession(s: NewSession): Promise<Session> {
    const [r] = await q(
      this.db,
      'INSERT INTO sessions (id, user_id, family_id, token_hash, expires_at) VALUES ($1::text, $2::text, $3::text, $4::text, $5::timestamptz) RETURNING *',
      [s.id, s.userId, s.familyId, s.tokenHash, s.expiresAt],
    );
    return toSession(r!);
  }

  async rotateSession(tokenHash: string, next: Omit<NewSession, 'userId' | 'familyId'>, now?: string): Promise<RotateResult> {
    const at = nullable(now);
    return this.db.transaction(async function rotate(tx): Promise<RotateResult> {
      // The row lock makes a concurrent rotation of the same token wait, then see replaced_at and take the 'reused' path.
      const [cur] = await q(tx, 'SELECT *, expires_at <= COALESCE($2::timestamptz, now()) AS expired FROM sessions WHERE token_hash = $1::text FOR UPDATE', [tokenHash, at]);
      if (!cur || cur.revoked_at !== null) return { status: 'invalid' };
      if (cur.replaced_at !== null) {
        const rows = await q(tx, 'UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2::timestamptz, now()) WHERE family_id = $1::text RETURNING *', [cur.family_id as string, at]);
        return { status: 'reused', previous: toSession(rows.find((r) => r.id === cur.id)!) };
      }
      if (cur.expired === true) return { status: 'invalid' };
      const [prev] = await q(tx, 'UPDATE sessions SET replaced_at = COALESCE($2::timestamptz, now()) WHERE id = $1::text RETURNING *', [cur.id as string, at]);
      await q(
        tx,
        'INSERT INTO sessions (id, user_id, family_id, token_hash, expires_at, created_at) VALUES ($1::text, $2::text, $3::text, $4::text, $5::timestamptz, COALESCE($6::timestamptz, now()))',
        [next.id, cur.user_id as string, cur.family_id as string, next.tokenHash, next.expiresAt, at],
      );
      return { status: 'rotated', previous: toSession(prev!) };
    }).catch(mapError); // BEGIN or COMMIT failing, outside q()
  }

  async revokeSession(tokenHash: string): Promise<Session | undefined> {
    const rows = await q(
      this.db,
      `UPDATE sessions SET revoked_at = COALESCE(revoked_at, now())
       WHERE family_id IN (SELECT family_id FROM sessions WHERE token_hash = $1::text) RETURNING *`,
      [tokenHash],
    );
    const r = rows.find((x) => x.token_hash === tokenHash);
    return r && toSession(r);
  }

  /** Revokes every session of the user; resolves with how many were still usable (not replaced, revoked or expired). */
  async revokeUserSessions(userId: string): Promise<number> {
    const [r] = await q<{ n: number }>(
      this.db,
      `WITH revoked AS (
         UPDATE sessions SET revoked_at = now() WHERE user_id = $1::text AND revoked_at IS NULL RETURNING replaced_at, expires_at
       ) SELECT count(*)::integer AS n FROM revoked WHERE replaced_at IS NULL AND expires_at > now()`,
      [userId],
    );
    return Number(r!.n);
  }

  async revokeSessionFamily(familyId: string): Promise<number> {
    const rows = await q(this.db, 'UPDATE sessions SET revoked_at = now() WHERE family_id = $1::text AND revoked_at IS NULL RETURNING id', [familyId]);
    return rows.length;
  }

  async sessionActive(userId: string, familyId: string): Promise<boolean> {
    const rows = await q(
      this.db,
      `SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.family_id = $1::text AND s.user_id = $2::text AND s.revoked_at IS NULL AND NOT u.disabled LIMIT 1`,
      [familyId, userId],
    );
    return rows.length > 0;
  }

  // ---- devices ----

  async createDevice(d: NewDevice): Promise<Device> {
    const [r] = await q(this.db, 'INSERT INTO devices (id, name, description, labels) VALUES ($1::text, $2::text, $3::text, $4::text::jsonb) RETURNING *', [
      randomUUID(),
      d.name,
      d.description ?? '',
      JSON.stringify(d.labels ?? {}),
    ]);
    return toDevice(r!);
  }

  async getDevice(id: string): Promise<Device | undefined> {
    const [r] = await q(this.db, 'SELECT * FROM devices WHERE id = $1::text', [id]);
    return r && toDevice(r);
  }

  async listDevices(): Promise<Device[]> {
    return (await q(this.db, 'SELECT * FROM devices ORDER BY name')).map(toDevice);
  }

  async updateDevice(id: string, patch: DevicePatch): Promise<Device | undefined> {
    const [r] = await q(
      this.db,
      `UPDATE devices SET name = COALESCE($2::text, name), description = COALESCE($3::text, description),
         labels = COALESCE($4::text::jsonb, labels), updated_at = now()
       WHERE id = $1::text RETURNING *`,
      [id, nullable(patch.name), nullable(patch.description), jsonOrNull(patch.labels)],
    );
    return r && toDevice(r);
  }

  async deleteDevice(id: string): Promise<boolean> {
    return (await q(this.db, 'DELETE FROM devices WHERE id = $1::text RETURNING id', [id])).length > 0;
  }

  /**
   * One UPDATE for the whole batch. Several updates of one device are merged
   * first (latest lastSeenAt, latest error); times never move backwards, so
   * batches from several instances may land in any order. Unknown devices
   * (deleted meanwhile) are skipped. updatedAt is not touched: it tracks
   * configuration changes.
   */
  async recordDeviceActivity(updates: DeviceActivity[]): Promise<void> {
    const merged = new Map<string, { id: string; seen: string | null; error: string | null; error_at: string | null }>();
    for (const u of updates) {
      const m = merged.get(u.deviceId) ?? { id: u.deviceId, seen: null, error: null, error_at: null };
      if (u.lastSeenAt && (m.seen === null || Date.parse(u.lastSeenAt) > Date.parse(m.seen))) m.seen = u.lastSeenAt;
      if (u.lastError && (m.error_at === null || Date.parse(u.lastError.at) >= Date.parse(m.error_at))) {
        m.error = u.lastError.message;
        m.error_at = u.lastError.at;
      }
      merged.set(u.deviceId, m);
    }
    if (merged.size === 0) return;
    // Sorted, so concurrent batches from several instances lock rows in a similar order.
    const rows = [...merged.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    await q(
      this.db,
      `UPDATE devices AS d SET
         last_seen_at = GREATEST(d.last_seen_at, u.seen),
         last_error = CASE WHEN u.error_at IS NOT NULL AND (d.last_error_at IS NULL OR u.error_at >= d.last_error_at) THEN u.error ELSE d.last_error END,
         last_error_at = CASE WHEN u.error_at IS NOT NULL AND (d.last_error_at IS NULL OR u.error_at >= d.last_error_at) THEN u.error_at ELSE d.last_error_at END
       FROM jsonb_to_recordset($1::text::jsonb) AS u(id text, seen timestamptz, error text, error_at timestamptz)
       WHERE d.id = u.id`,
      [JSON.stringify(rows)],
    );
  }

  // ---- device tokens ----

  async createDeviceToken(t: NewDeviceToken): Promise<DeviceToken> {
    const [r] = await q(
      this.db,
      'INSERT INTO device_tokens (id, device_id, name, hash, prefix, expires_at) VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::timestamptz) RETURNING *',
      [randomUUID(), t.deviceId, t.name ?? '', t.hash, t.prefix, nullable(t.expiresAt ?? undefined)],
    );
    return toToken(r!);
  }

  async listDeviceTokens(deviceId: string): Promise<DeviceToken[]> {
    return (await q(this.db, 'SELECT * FROM device_tokens WHERE device_id = $1::text ORDER BY created_at, id', [deviceId])).map(toToken);
  }

  async findDeviceTokens(hashes: readonly string[]): Promise<Map<string, { token: DeviceToken; device: Device }>> {
    if (hashes.length > MAX_TOKEN_LOOKUP) throw new RangeError(`findDeviceTokens: ${hashes.length} hashes, at most ${MAX_TOKEN_LOOKUP}`);
    const found = new Map<string, { token: DeviceToken; device: Device }>();
    if (hashes.length === 0) return found;
    const rows = await q(
      this.db,
      `SELECT t.hash, to_jsonb(t) AS token, to_jsonb(d) AS device FROM device_tokens t JOIN devices d ON d.id = t.device_id
       WHERE t.hash IN (SELECT jsonb_array_elements_text($1::text::jsonb))`,
      [JSON.stringify(hashes)],
    );
    for (const r of rows) found.set(r.hash as string, { token: toToken(json(r.token)), device: toDevice(json(r.device)) });
    return found;
  }

  async getDeviceToken(deviceId: string, tokenId: string): Promise<DeviceToken | undefined> {
    const [r] = await q(this.db, 'SELECT * FROM device_tokens WHERE id = $1::text AND device_id = $2::text', [tokenId, deviceId]);
    return r && toToken(r);
  }

  async revokeDeviceToken(deviceId: string, tokenId: string): Promise<DeviceToken | undefined> {
    const [r] = await q(this.db, 'UPDATE device_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1::text AND device_id = $2::text RETURNING *', [tokenId, deviceId]);
    return r && toToken(r);
  }

  async expireDeviceToken(deviceId: string, tokenId: string, expiresAt: string): Promise<DeviceToken | undefined> {
    const [r] = await q(
      this.db,
      `UPDATE device_tokens SET expires_at = CASE WHEN expires_at IS NULL OR $3::timestamptz < expires_at THEN $3::timestamptz ELSE expires_at END
       WHERE id = $1::text AND device_id = $2::text RETURNING *`,
      [tokenId, deviceId, expiresAt],
    );
    return r && toToken(r);
  }

  async markDeviceTokensUsed(tokenIds: string[], at: string): Promise<void> {
    if (tokenIds.length === 0) return;
    await q(
      this.db,
      'UPDATE device_tokens SET last_used_at = GREATEST(last_used_at, $2::timestamptz) WHERE id IN (SELECT jsonb_array_elements_text($1::text::jsonb))',
      [JSON.stringify([...new Set(tokenIds)].sort()), at],
    );
  }

  // ---- alert rules ----

  async createAlertRule(r: NewAlertRule): Promise<AlertRule> {
    const [row] = await q(
      this.db,
      `INSERT INTO alert_rules (id, name, expr, for_seconds, severity, labels, annotations, enabled, spec)
       VALUES ($1::text, $2::text, $3::text, $4::integer, $5::text, $6::text::jsonb, $7::text::jsonb, $8::boolean, $9::text::jsonb) RETURNING *`,
      [randomUUID(), r.name, r.expr, r.forSeconds ?? 0, r.severity ?? 'warning', JSON.stringify(r.labels ?? {}), JSON.stringify(r.annotations ?? {}), r.enabled ?? true, JSON.stringify(specOf(r))],
    );
    return toAlertRule(row!);
  }

  async getAlertRule(id: string): Promise<AlertRule | undefined> {
    const [r] = await q(this.db, 'SELECT * FROM alert_rules WHERE id = $1::text', [id]);
    return r && toAlertRule(r);
  }

  async listAlertRules(): Promise<AlertRule[]> {
    return (await q(this.db, 'SELECT * FROM alert_rules ORDER BY name')).map(toAlertRule);
  }

  async updateAlertRule(id: string, p: AlertRulePatch): Promise<AlertRule | undefined> {
    const [r] = await q(
      this.db,
      `UPDATE alert_rules SET name = COALESCE($2::text, name), expr = COALESCE($3::text, expr), for_seconds = COALESCE($4::integer, for_seconds),
         severity = COALESCE($5::text, severity), labels = COALESCE($6::text::jsonb, labels), annotations = COALESCE($7::text::jsonb, annotations),
         enabled = COALESCE($8::boolean, enabled), spec = spec || $9::text::jsonb, updated_at = now()
       WHERE id = $1::text RETURNING *`,
      [id, nullable(p.name), nullable(p.expr), nullable(p.forSeconds), nullable(p.severity), jsonOrNull(p.labels), jsonOrNull(p.annotations), nullable(p.enabled), JSON.stringify(specOf(p))],
    );
    return r && toAlertRule(r);
  }

  async deleteAlertRule(id: string): Promise<boolean> {
    return (await q(this.db, 'DELETE FROM alert_rules WHERE id = $1::text RETURNING id', [id])).length > 0;
  }

  // ---- connectors ----

  async createConnector(c: NewConnectorConfig): Promise<ConnectorConfig> {
    const [r] = await q(this.db, 'INSERT INTO connectors (id, name, kind, config, enabled) VALUES ($1::text, $2::text, $3::text, $4::text::jsonb, $5::boolean) RETURNING *', [
      randomUUID(),
      c.name,
      c.kind,
      JSON.stringify(c.config),
      c.enabled ?? true,
    ]);
    return toConnector(r!);
  }

  async getConnector(id: string): Promise<ConnectorConfig | undefined> {
    const [r] = await q(this.db, 'SELECT * FROM connectors WHERE id = $1::text', [id]);
    return r && toConnector(r);
  }

  async listConnectors(): Promise<ConnectorConfig[]> {
    return (await q(this.db, 'SELECT * FROM connectors ORDER BY name')).map(toConnector);
  }

  async listConnectorVersions(): Promise<ConnectorVersion[]> {
    return (await q(this.db, 'SELECT id, enabled, updated_at FROM connectors ORDER BY name')).map((r) => ({ id: r.id as string, enabled: r.enabled as boolean, updatedAt: iso(r.updated_at) }));
  }

  async updateConnector(id: string, p: ConnectorConfigPatch): Promise<ConnectorConfig | undefined> {
    const [r] = await q(
      this.db,
      `UPDATE connectors SET name = COALESCE($2::text, name), config = COALESCE($3::text::jsonb, config), enabled = COALESCE($4::boolean, enabled), updated_at = now()
       WHERE id = $1::text RETURNING *`,
      [id, nullable(p.name), jsonOrNull(p.config), nullable(p.enabled)],
    );
    return r && toConnector(r);
  }

  async deleteConnector(id: string): Promise<boolean> {
    return (await q(this.db, 'DELETE FROM connectors WHERE id = $1::text RETURNING id', [id])).length > 0;
  }

  async applyFileConnectors(list: readonly FileConnector[]): Promise<FileConnectorsResult> {
    const names = new Set(list.map((f) => f.name));
    if (names.size !== list.length) throw new TypeError('applyFileConnectors: two connectors of the list have one name');
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction((tx) => applyFileConnectorsIn(tx, list)).catch(mapError); // BEGIN or COMMIT failing, outside q()
      } catch (e) {
        if (!(e instanceof StoreConflictError) || attempt >= FILE_CONNECTORS_TRIES) throw e;
      }
    }
  }

  // ---- audit ----

  async appendAudit(e: NewAuditEntry): Promise<AuditEntry> {
    const [r] = await q(this.db, `INSERT INTO audit_log (actor, action, target, ip, details) VALUES ($1::text, $2::text, $3::text, $4::text, $5::text::jsonb) RETURNING ${AUDIT_COLUMNS}`, [
      e.actor,
      e.action,
      e.target,
      e.ip,
      JSON.stringify(e.details ?? {}),
    ]);
    return toAudit(r!);
  }

  async listAudit(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: Param[] = [];
    const add = (cond: (n: string) => string, v: Param) => {
      params.push(v);
      where.push(cond(`$${params.length}`));
    };
    if (query.before !== undefined) {
      if (!/^\d+$/.test(query.before)) throw new TypeError(`listAudit: before must be an audit entry id, got ${JSON.stringify(query.before)}`);
      // Past the bigint range means "below everything there is".
      const before = BigInt(query.before) > MAX_BIGINT ? String(MAX_BIGINT) : query.before;
      add((p) => `id < ${p}::bigint`, before);
    }
    if (query.actor !== undefined) add((p) => `actor = ${p}::text`, query.actor);
    if (query.action !== undefined) {
      if (query.action.endsWith('.')) add((p) => `action LIKE ${p}::text`, likePrefix(query.action));
      else add((p) => `action = ${p}::text`, query.action);
    }
    if (query.target !== undefined) add((p) => `target = ${p}::text`, query.target);
    if (query.since !== undefined) add((p) => `at >= ${p}::timestamptz`, query.since);
    if (query.until !== undefined) add((p) => `at < ${p}::timestamptz`, query.until);
    const limit = Math.min(AUDIT_MAX_LIMIT, Math.max(1, Math.floor(query.limit ?? AUDIT_DEFAULT_LIMIT)));
    params.push(limit);
    const rows = await q(
      this.db,
      `SELECT ${AUDIT_COLUMNS} FROM audit_log ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY audit_log.id DESC LIMIT $${params.length}::integer`,
      params,
    );
    return rows.map(toAudit);
  }

  // ---- user anomaly models ----

  // ---- alerts ----

  async listAlerts(ruleId?: string): Promise<AlertInstance[]> {
    const rows = ruleId === undefined
      ? await q(this.db, 'SELECT * FROM alerts ORDER BY rule_id, fingerprint')
      : await q(this.db, 'SELECT * FROM alerts WHERE rule_id = $1::text ORDER BY fingerprint', [ruleId]);
    return rows.map(toAlert);
  }

  async saveAlerts(ruleId: string, changed: readonly AlertInstance[], removed: readonly string[]): Promise<void> {
    if (changed.length === 0 && removed.length === 0) return;
    await this.db
      .transaction(async (tx) => {
        if (removed.length > 0) {
          await q(tx, 'DELETE FROM alerts WHERE rule_id = $1::text AND fingerprint IN (SELECT jsonb_array_elements_text($2::text::jsonb))', [ruleId, JSON.stringify(removed)]);
        }
        for (const a of changed) {
          await q(
            tx,
            `INSERT INTO alerts (rule_id, fingerprint, labels, annotations, state, value, active_at, fired_at, resolved_at, updated_at)
             VALUES ($1::text, $2::text, $3::text::jsonb, $4::text::jsonb, $5::text, $6::double precision, $7::timestamptz, $8::timestamptz, $9::timestamptz, now())
             ON CONFLICT (rule_id, fingerprint) DO UPDATE SET labels = EXCLUDED.labels, annotations = EXCLUDED.annotations, state = EXCLUDED.state,
               value = EXCLUDED.value, active_at = EXCLUDED.active_at, fired_at = EXCLUDED.fired_at, resolved_at = EXCLUDED.resolved_at, updated_at = now()`,
            [ruleId, a.fingerprint, JSON.stringify(a.labels), JSON.stringify(a.annotations), a.state, a.value, a.activeAt, a.firedAt, a.resolvedAt],
          );
        }
      })
      .catch(mapError);
  }

  // ---- silences ----

  async createSilence(n: NewSilence): Promise<StoredSilence> {
    const [r] = await q(
      this.db,
      `INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment) VALUES ($1::text, $2::text, $3::timestamptz, $4::timestamptz, $5::text, $6::text) RETURNING *`,
      [randomUUID(), n.matchers, n.startsAt, n.endsAt, n.createdBy, n.comment ?? ''],
    );
    return toSilence(r!);
  }

  async listSilences(endsAfter?: string): Promise<StoredSilence[]> {
    const rows = endsAfter === undefined
      ? await q(this.db, 'SELECT * FROM silences ORDER BY starts_at, id')
      : await q(this.db, 'SELECT * FROM silences WHERE ends_at > $1::timestamptz ORDER BY starts_at, id', [endsAfter]);
    return rows.map(toSilence);
  }

  async expireSilence(id: string, at: string): Promise<StoredSilence | undefined> {
    await q(this.db, 'UPDATE silences SET ends_at = GREATEST(starts_at + interval \'1 millisecond\', $2::timestamptz) WHERE id = $1::text AND ends_at > $2::timestamptz', [id, at]);
    const [r] = await q(this.db, 'SELECT * FROM silences WHERE id = $1::text', [id]);
    return r && toSilence(r);
  }

  async createUserModel(m: NewUserModel): Promise<UserModel> {
    const [r] = await q(
      this.db,
      `INSERT INTO user_models (name, version, inputs, output, onnx, sha256, size_bytes, role, promoted_at)
       SELECT $1::text, $2::text, $3::text::jsonb, $4::text, decode($5::text, 'base64'), $6::text, $7::integer,
              CASE WHEN a.n > 0 THEN 'shadow' ELSE 'active' END, CASE WHEN a.n > 0 THEN NULL ELSE now() END
       FROM (SELECT count(*) AS n FROM user_models WHERE name = $1::text AND role = 'active') a
       RETURNING ${USER_MODEL_COLUMNS}`,
      [m.name, m.version, JSON.stringify(m.inputs), m.output, Buffer.from(m.onnx).toString('base64'), m.sha256, m.onnx.byteLength],
    );
    return toUserModel(r!);
  }

  async listUserModels(): Promise<UserModel[]> {
    return (await q(this.db, `SELECT ${USER_MODEL_COLUMNS} FROM user_models ORDER BY name, created_at, version`)).map(toUserModel);
  }

  async getUserModel(name: string, version: string): Promise<UserModelRecord | undefined> {
    const [r] = await q(this.db, `SELECT ${USER_MODEL_COLUMNS}, encode(onnx, 'base64') AS onnx_b64 FROM user_models WHERE name = $1::text AND version = $2::text`, [name, version]);
    return r && { ...toUserModel(r), onnx: new Uint8Array(Buffer.from(String(r.onnx_b64).replace(/\s/g, ''), 'base64')) };
  }

  async promoteUserModel(name: string, version: string): Promise<UserModel | undefined> {
    return this.db
      .transaction(async (tx) => {
        // Every version of the name locked: promotions of one name run one after the other.
        const rows = await q(tx, `SELECT ${USER_MODEL_COLUMNS} FROM user_models WHERE name = $1::text ORDER BY version FOR UPDATE`, [name]);
        const target = rows.find((r) => r.version === version);
        if (!target) return undefined;
        if (target.role === 'active') return toUserModel(target);
        await q(tx, `UPDATE user_models SET role = 'retired', updated_at = now() WHERE name = $1::text AND role = 'active'`, [name]);
        const [r] = await q(tx, `UPDATE user_models SET role = 'active', promoted_at = now(), updated_at = now() WHERE name = $1::text AND version = $2::text RETURNING ${USER_MODEL_COLUMNS}`, [name, version]);
        return toUserModel(r!);
      })
      .catch(mapError);
  }

  async deleteUserModel(name: string, version: string): Promise<boolean> {
    return (await q(this.db, 'DELETE FROM user_models WHERE name = $1::text AND version = $2::text RETURNING name', [name, version])).length > 0;
  }

  async userModelsVersion(): Promise<string> {
    const [r] = await q(this.db, 'SELECT count(*)::integer AS n, max(updated_at) AS at FROM user_models');
    return `${Number(r!.n)}/${isoOrNull(r!.at) ?? ''}`;
  }

  // ---- settings ----

  async getSetting(key: string): Promise<string | undefined> {
    const [r] = await q<{ value: string }>(this.db, 'SELECT value FROM settings WHERE key = $1::text', [key]);
    return r?.value;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`lease ttlMs must be a positive integer, got ${ttlMs}`);
    // Taken when free, expired, or already ours (a renewal); else the row stays and nothing is returned.
    const rows = await q(
      this.db,
      `INSERT INTO leases (name, holder, expires_at) VALUES ($1::text, $2::text, now() + $3::integer * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= now()
       RETURNING holder`,
      [name, holder, ttlMs],
    );
    return rows.length > 0;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await q(this.db, 'DELETE FROM leases WHERE name = $1::text AND holder = $2::text', [name, holder]);
  }

  async setSettingIfAbsent(key: string, value: string): Promise<string> {
    const [ins] = await q<{ value: string }>(this.db, 'INSERT INTO settings (key, value) VALUES ($1::text, $2::text) ON CONFLICT (key) DO NOTHING RETURNING value', [key, value]);
    if (ins) return ins.value;
    // A second statement, so a fresh snapshot: it sees the row a concurrent writer committed.
    const [r] = await q<{ value: string }>(this.db, 'SELECT value FROM settings WHERE key = $1::text', [key]);
    return r!.value;
  }
}
