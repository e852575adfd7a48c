// Shapes of the API's replies that the dashboard reads (src/api/schemas.ts,
// src/api/status.ts on the gateway side).

export type Labels = Record<string, string>;

export interface GatewayStatus {
  instance: string;
  time: string;
  uptimeSeconds: number;
  ingest: {
    samplesPerSecond: number;
    byProtocol: Record<string, number>;
    rejectedPointsPerSecond: number;
    rejectedRequestsPerSecond: number;
    acceptedSamplesTotal: number;
    rejectedPointsTotal: number;
    rejectedRequestsTotal: number;
  };
  sink: { name: string; healthy: boolean; detail: string | null };
  sinks: Array<{ name: string; type: string; healthy: boolean; detail: string | null }>;
  queue: Array<{ sink: string; shard: number; records: number; samples: number; bytes: number; oldestAgeSeconds: number }>;
  mainThreadLoad: number;
}

export interface DeviceStatus {
  state: 'online' | 'stale' | 'never';
  lastSeenAt: string | null;
  samplesPerSecond: number;
  lastError: string | null;
  lastErrorAt: string | null;
}
export interface Device {
  id: string;
  name: string;
  description: string;
  labels: Labels;
  createdAt: string;
  updatedAt: string;
  status: DeviceStatus;
}
export interface DeviceToken {
  id: string;
  deviceId: string;
  name: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  state: 'active' | 'expiring' | 'expired' | 'revoked';
}
export interface IssuedToken extends DeviceToken {
  token: string;
  rotated?: DeviceToken;
}
export interface CreatedDevice extends Device {
  token: string;
  tokenInfo: DeviceToken;
}
export interface AlertRule {
  id: string;
  name: string;
  expr: string;
  forSeconds: number;
  severity: 'info' | 'warning' | 'critical';
  labels: Labels;
  annotations: Labels;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}
export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  target: string;
  ip: string;
  details: Record<string, unknown>;
}
export interface Items<T> {
  items: T[];
}
export interface PromSuccess<T> {
  status: 'success';
  data: T;
}
export interface Matrix {
  resultType: 'matrix';
  result: Array<{ metric: Labels; values: Array<[number, string]> }>;
}

/** The connector kinds of the store (src/store/types.ts); not every one runs in every gateway version. */
export type ConnectorKind = 'mqtt' | 'homeassistant' | 'modbus' | 'opcua';
export type ConnectorState = 'connecting' | 'up' | 'backoff' | 'failed' | 'stopped';
export interface ConnectorError {
  at: string;
  reason: string;
}
export interface ConnectorStatus {
  state: ConnectorState;
  since: string;
  lastSuccessAt: string | null;
  lastError: ConnectorError | null;
  readingsPerSecond: number;
  readingsTotal: number;
  messagesTotal: number;
  unparseableTotal: number;
  droppedTotal: number;
  /** Home Assistant: states read as unavailable or unknown. */
  unavailableTotal?: number;
  /** OPC-UA: values read with a status other than Good, by status name. */
  badStatus?: Record<string, number>;
  /** Modbus: registers the device refused, polled alone and rarely. */
  quarantined?: Array<{ name: string; device?: string; table?: string; address: number; error: string; since: string }>;
  /** Modbus: poll slots skipped because the poll before overran them. */
  latePollsTotal?: number;
  instance: string | null;
  staleness: ConnectorStaleness;
}
export type Freshness = 'learning' | 'fresh' | 'stale';
/** Learned staleness: series and devices judged by their own reporting intervals. */
export interface ConnectorStaleness {
  series: Record<Freshness, number>;
  devices: Record<Freshness | 'offline', number>;
  staleDeviceNames: string[];
  untracked: number;
}
export interface WatchedSeries {
  labels: Record<string, string>;
  lastSeenAt: string;
  intervalMs: number | null;
  freshness: Freshness;
}
export interface WatchedDevice extends WatchedSeries {
  key: string;
  availability: 'online' | 'offline' | null;
}
export interface Connector {
  id: string;
  name: string;
  kind: ConnectorKind;
  /** Its settings without the secrets. */
  config: Record<string, unknown>;
  /** Config paths of the secrets that are set (write-only: their values never come back). */
  secrets: string[];
  enabled: boolean;
  /** file: defined in the config file, read-only through the API. */
  source: 'api' | 'file';
  createdAt: string;
  updatedAt: string;
  status: ConnectorStatus;
}
/** One node below a browsed node (GET /api/connectors/{id}/browse). */
export interface BrowsedNode {
  nodeId: string;
  /** With its namespace index, as a browse path step: 2:Temperature. */
  browseName: string;
  displayName: string;
  nodeClass: string;
  dataType?: string;
  hasChildren: boolean;
}
export interface Browsed {
  node: string;
  references: BrowsedNode[];
  /** More than the gateway lists (1,000): the rest are left out. */
  truncated: boolean;
}
/** An OPC-UA server certificate the gateway has seen (GET /api/opcua/certificates). */
export interface OpcuaCertificate {
  thumbprint: string;
  subject: string;
  applicationUri?: string;
  notBefore: string;
  notAfter: string;
  state: 'trusted' | 'rejected';
}
