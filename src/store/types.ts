// The metadata repository: users and their sessions, devices and their
// ingest tokens, alert rules, connector configurations, the audit log and a
// few gateway-wide settings. One interface, two backends running the same
// SQL and migrations: PostgreSQL (`postgres`, --postgres URL) and PGlite
// under the data directory (the embedded default). Both pass one
// conformance suite (conformance.ts).
//
// Conventions:
// - Ids are UUIDs made by the caller's side of the store (crypto.randomUUID);
//   audit entries have increasing numeric ids, returned as strings.
// - Times are ISO-8601 strings in UTC ('2026-11-27T10:00:00.000Z').
// - A unique-key clash (a second user 'admin', a second device of one name)
//   throws StoreConflictError, and so does a reference to a missing row (a
//   token for a device deleted meanwhile); a missing row is `undefined` /
//   `false`, not an error.
// - Secrets are never stored: passwords as memory-hard hashes, tokens as
//   SHA-256 digests made by the caller.

import type { AlertInstance } from '../alerts/types.js';

export type Role = 'admin' | 'operator' | 'viewer';
export const roles: readonly Role[] = ['admin', 'operator', 'viewer'];

export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface UserRecord extends User {
  passwordHash: string;
}

export interface NewUser {
  username: string;
  role: Role;
  passwordHash: string;
}

export interface UserPatch {
  role?: Role;
  passwordHash?: string;
  disabled?: boolean;
}

/** A refresh-token session. Rotation replaces the token within one family; reusing a replaced token revokes the family. */
export interface Session {
  id: string;
  userId: string;
  familyId: string;
  expiresAt: string;
  createdAt: string;
  revokedAt: string | null;
  /** Set when the token was exchanged for the next one. */
  replacedAt: string | null;
}

export interface NewSession {
  id: string;
  userId: string;
  familyId: string;
  tokenHash: string;
  expiresAt: string;
}

export type RotateResult =
  | { status: 'rotated'; previous: Session }
  /** The token had already been exchanged (likely stolen): the whole family is now revoked. */
  | { status: 'reused'; previous: Session }
  /** Unknown, expired or revoked. */
  | { status: 'invalid' };

export interface Device {
  id: string;
  name: string;
  description: string;
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  /** Last accepted write, as recorded by recordDeviceActivity. */
  lastSeenAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

export interface NewDevice {
  name: string;
  description?: string;
  labels?: Record<string, string>;
}

export interface DevicePatch {
  name?: string;
  description?: string;
  labels?: Record<string, string>;
}

export interface DeviceActivity {
  deviceId: string;
  lastSeenAt?: string;
  lastError?: { message: string; at: string };
}

export interface DeviceToken {
  id: string;
  deviceId: string;
  name: string;
  /** The token's first characters, to tell tokens apart in lists (never enough to use it). */
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** Hashes per findDeviceTokens call. */
export const MAX_TOKEN_LOOKUP = 1000;

export interface NewDeviceToken {
  deviceId: string;
  name?: string;
  /** SHA-256 digest of the secret (hex). */
  hash: string;
  prefix: string;
  expiresAt?: string | null;
}

export type Severity = 'info' | 'warning' | 'critical';

export interface AlertRule {
  id: string;
  name: string;
  /** A PromQL/MetricsQL expression, or a series selector for anomaly scoring. */
  expr: string;
  /** How long the condition must hold before the alert fires, in seconds. */
  forSeconds: number;
  severity: Severity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  enabled: boolean;
  /** Labels whose values split the rule's alerts into notification groups ([]: one group). */
  groupBy: string[];
  /** A rule whose firing alerts mute this one's (inhibition); null: none. */
  parentId: string | null;
  /** Labels a parent's alert and this rule's must agree on to mute it ([]: any). */
  inhibitLabels: string[];
  /** An unchanged group is notified again after this long. */
  repeatSeconds: number;
  /** A group's new firing set is notified at most once per this long. */
  cooldownSeconds: number;
  createdAt: string;
  updatedAt: string;
}

export interface StoredSilence {
  id: string;
  /** A series selector over alert labels: `{site="a",alertname="PumpHot"}`. */
  matchers: string;
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  createdAt: string;
}
export type NewSilence = Pick<StoredSilence, 'matchers' | 'startsAt' | 'endsAt' | 'createdBy'> & { comment?: string };

/** The parts of a rule kept in its spec column, and their defaults. */
export const alertRuleSpecDefaults = { groupBy: [] as string[], parentId: null as string | null, inhibitLabels: [] as string[], repeatSeconds: 4 * 3600, cooldownSeconds: 0 };
export type AlertRuleSpec = typeof alertRuleSpecDefaults;

export type NewAlertRule = Pick<AlertRule, 'name' | 'expr'> & Partial<Pick<AlertRule, 'forSeconds' | 'severity' | 'labels' | 'annotations' | 'enabled' | keyof AlertRuleSpec>>;
export type AlertRulePatch = Partial<Omit<AlertRule, 'id' | 'createdAt' | 'updatedAt'>>;

export type ConnectorKind = 'mqtt' | 'modbus' | 'opcua' | 'homeassistant';
export const connectorKinds: readonly ConnectorKind[] = ['mqtt', 'modbus', 'opcua', 'homeassistant'];

/** Who defines a connector: the API (changed through it), or the YAML file (read-only in the API, applied at start). */
export type ConnectorSource = 'api' | 'file';

export interface ConnectorConfig {
  id: string;
  name: string;
  kind: ConnectorKind;
  /** Kind-specific settings, validated by the API (and later by the connector). */
  config: Record<string, unknown>;
  enabled: boolean;
  /** Never changes for a connector: a name the file takes over from the API is refused (applyFileConnectors). */
  source: ConnectorSource;
  createdAt: string;
  updatedAt: string;
}

export type ConnectorVersion = Pick<ConnectorConfig, 'id' | 'enabled' | 'updatedAt'>;

export type NewConnectorConfig = Pick<ConnectorConfig, 'name' | 'kind' | 'config'> & { enabled?: boolean };
export type ConnectorConfigPatch = Partial<Pick<ConnectorConfig, 'name' | 'config' | 'enabled'>>;

/** A connector as the configuration file defines it. */
export type FileConnector = Pick<ConnectorConfig, 'name' | 'kind' | 'config' | 'enabled'>;

/** What applyFileConnectors did. */
export interface FileConnectorsResult {
  created: ConnectorConfig[];
  /** Their kind, config or enabled differed from the file's. */
  updated: ConnectorConfig[];
  /** Defined by the file earlier, no longer listed (as they were before deletion). */
  deleted: ConnectorConfig[];
  unchanged: number;
  /**
   * Names the file lists that connectors created through the API hold:
   * when any, nothing was changed (the file is refused whole).
   */
  clashes: ConnectorConfig[];
}

export interface AuditEntry {
  id: string;
  at: string;
  /** Who: 'user:<username>', 'system', ... */
  actor: string;
  /** What, as resource.verb: 'device.create', 'token.revoke', 'user.update', 'auth.login', ... */
  action: string;
  /** The resource acted on: 'device:<id>', ... ('' when none). */
  target: string;
  /** From where: the client address. */
  ip: string;
  details: Record<string, unknown>;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

export interface AuditQuery {
  /** Newest first; at most `limit` (default 100, at most 1000). */
  limit?: number;
  /** Entries with an id below this (paging backwards). */
  before?: string;
  actor?: string;
  /** Exact action, or a prefix ending in '.' ('device.'). */
  action?: string;
  target?: string;
  /** Entries at or after this time (inclusive). */
  since?: string;
  /** Entries before this time (exclusive). */
  until?: string;
}

/** A user anomaly model version's role: active (scored), shadow (scored beside the active one), retired (kept, not scored). */
export type ModelRole = 'active' | 'shadow' | 'retired';

/** A version of a user anomaly model (an ONNX model uploaded through the API), without its bytes. */
export interface UserModel {
  name: string;
  version: string;
  /** The core features it reads, in the order of its input columns. */
  inputs: string[];
  /** The output that gives the score; null: the model's only output. */
  output: string | null;
  /** Of the ONNX bytes (hex). */
  sha256: string;
  sizeBytes: number;
  role: ModelRole;
  createdAt: string;
  updatedAt: string;
  /** When it last became active (null: never). */
  promotedAt: string | null;
}

export interface UserModelRecord extends UserModel {
  onnx: Uint8Array;
}

export type NewUserModel = Pick<UserModel, 'name' | 'version' | 'inputs' | 'output' | 'sha256'> & { onnx: Uint8Array };

export class StoreConflictError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreConflictError';
  }
}

export interface MetaStore {
  readonly kind: 'postgres' | 'pglite';
  /** Applies pending migrations (safe to run concurrently from several instances); resolves with the schema version. */
  migrate(): Promise<number>;
  /** Resolves when the database answers. */
  health(): Promise<void>;
  close(): Promise<void>;

  createUser(u: NewUser): Promise<User>;
  getUser(id: string): Promise<UserRecord | undefined>;
  getUserByUsername(username: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<User[]>;
  countUsers(): Promise<number>;
  updateUser(id: string, patch: UserPatch): Promise<User | undefined>;
  deleteUser(id: string): Promise<boolean>;

  createSession(s: NewSession): Promise<Session>;
  /**
   * Atomically exchanges a valid refresh token (by hash) for `next` in the same family.
   * A replaced token presented again is 'reused' (even when expired); of two concurrent
   * exchanges of one token, one is 'rotated' and the other 'reused'.
   */
  rotateSession(tokenHash: string, next: Omit<NewSession, 'userId' | 'familyId'>, now?: string): Promise<RotateResult>;
  /** Revokes the session of this token and its whole family; resolves with it, if any. */
  revokeSession(tokenHash: string): Promise<Session | undefined>;
  /** Revokes every session of the user; resolves with how many were still usable (neither replaced, revoked nor expired). */
  revokeUserSessions(userId: string): Promise<number>;
  /** Revokes every session of one family (a logout without its refresh token); resolves with how many rows changed. */
  revokeSessionFamily(familyId: string): Promise<number>;
  /**
   * Whether access tokens of this session family may still be used: the user
   * exists and is not disabled, and the family was not revoked (logout,
   * refresh-token reuse, or the user's sessions revoked). One indexed lookup.
   */
  sessionActive(userId: string, familyId: string): Promise<boolean>;

  createDevice(d: NewDevice): Promise<Device>;
  getDevice(id: string): Promise<Device | undefined>;
  listDevices(): Promise<Device[]>;
  updateDevice(id: string, patch: DevicePatch): Promise<Device | undefined>;
  /** Deletes the device and its tokens. */
  deleteDevice(id: string): Promise<boolean>;
  /** Batched status updates from the ingest path (last seen, last error). */
  recordDeviceActivity(updates: DeviceActivity[]): Promise<void>;

  createDeviceToken(t: NewDeviceToken): Promise<DeviceToken>;
  listDeviceTokens(deviceId: string): Promise<DeviceToken[]>;
  /**
   * The tokens with these hashes (at most MAX_TOKEN_LOOKUP) and their devices, whatever their state
   * (the caller checks expiry and revocation), by hash; a hash of no token is absent. One query, so a
   * fleet reconnecting after a restart costs a few queries, not one per device.
   */
  findDeviceTokens(hashes: readonly string[]): Promise<Map<string, { token: DeviceToken; device: Device }>>;
  getDeviceToken(deviceId: string, tokenId: string): Promise<DeviceToken | undefined>;
  /** Revokes now (revokedAt), idempotently; undefined when no such token of this device. */
  revokeDeviceToken(deviceId: string, tokenId: string): Promise<DeviceToken | undefined>;
  /** Sets the expiry (rotation overlap: an earlier expiry only ever shortens it). */
  expireDeviceToken(deviceId: string, tokenId: string, expiresAt: string): Promise<DeviceToken | undefined>;
  markDeviceTokensUsed(tokenIds: string[], at: string): Promise<void>;

  createAlertRule(r: NewAlertRule): Promise<AlertRule>;
  getAlertRule(id: string): Promise<AlertRule | undefined>;
  listAlertRules(): Promise<AlertRule[]>;
  updateAlertRule(id: string, patch: AlertRulePatch): Promise<AlertRule | undefined>;
  deleteAlertRule(id: string): Promise<boolean>;

  createConnector(c: NewConnectorConfig): Promise<ConnectorConfig>;
  getConnector(id: string): Promise<ConnectorConfig | undefined>;
  listConnectors(): Promise<ConnectorConfig[]>;
  /** Each connector's id, whether it is enabled and when it last changed, without its config: what the connector runtime checks every few seconds (a config can be large: hundreds of Modbus registers). */
  listConnectorVersions(): Promise<ConnectorVersion[]>;
  updateConnector(id: string, patch: ConnectorConfigPatch): Promise<ConnectorConfig | undefined>;
  deleteConnector(id: string): Promise<boolean>;
  /**
   * Makes the connectors of source 'file' be exactly `list`, by name, in one
   * transaction: missing ones created, those whose kind, config or enabled
   * differ updated (a new updatedAt, so the runtime restarts them), those no
   * longer listed deleted; connectors of source 'api' are never changed, and
   * a listed name one of them holds refuses the whole list (`clashes`, no
   * change). Idempotent, and safe when several instances apply at once
   * (they serialise on an advisory lock; each sees what the previous did).
   */
  applyFileConnectors(list: readonly FileConnector[]): Promise<FileConnectorsResult>;

  appendAudit(e: NewAuditEntry): Promise<AuditEntry>;
  listAudit(q?: AuditQuery): Promise<AuditEntry[]>;

  /**
   * Takes or renews the lease `name` for `holder` until `ttlMs` from now (by
   * the database's clock): true when `holder` holds it now, false while
   * another holder's lease has not expired. Across instances sharing the
   * database, at most one holds a lease at a time.
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up, if `holder` holds it, so another instance may take it at once. */
  releaseLease(name: string, holder: string): Promise<void>;

  /**
   * Stores a version of a user anomaly model: the first of its name is
   * active (promotedAt set), a later one shadow. A second (name, version)
   * throws StoreConflictError.
   */
  /** The alerts of one rule (all rules without an id), by fingerprint order. */
  listAlerts(ruleId?: string): Promise<AlertInstance[]>;
  /** Upserts the alerts of one rule that changed and deletes `removed` (fingerprints), in one transaction. */
  saveAlerts(ruleId: string, changed: readonly AlertInstance[], removed: readonly string[]): Promise<void>;

  createSilence(s: NewSilence): Promise<StoredSilence>;
  /** Silences that end after `endsAfter` (ISO; all without it), by start. */
  listSilences(endsAfter?: string): Promise<StoredSilence[]>;
  /** Ends a silence now (at `at`) when it ends later; the silence as it is then, undefined when there is none. */
  expireSilence(id: string, at: string): Promise<StoredSilence | undefined>;

  createUserModel(m: NewUserModel): Promise<UserModel>;
  /** Every version of every user model, without the bytes, by name then creation. */
  listUserModels(): Promise<UserModel[]>;
  /** One version with its ONNX bytes. */
  getUserModel(name: string, version: string): Promise<UserModelRecord | undefined>;
  /**
   * Makes the version active and the active one of its name retired, in one
   * transaction (a version already active is returned as it is); undefined
   * when there is no such version.
   */
  promoteUserModel(name: string, version: string): Promise<UserModel | undefined>;
  deleteUserModel(name: string, version: string): Promise<boolean>;
  /** Changes whenever a user model is created, promoted or deleted: what other instances poll. */
  userModelsVersion(): Promise<string>;

  /** A gateway-wide setting (e.g. the JWT signing key shared by all instances). */
  getSetting(key: string): Promise<string | undefined>;
  /** Stores `value` unless the key exists; resolves with the value that is stored (first writer wins across instances). */
  setSettingIfAbsent(key: string, value: string): Promise<string>;
}
