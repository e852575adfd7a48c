// The API's request and response schemas (zod). The router validates with
// them and openapi.ts turns them into the OpenAPI 3.1 document, so the
// document is the contract the code enforces.

import { z } from 'zod';
import { parseCondition } from '../alerts/condition.js';
import { connectorKinds, roles } from '../store/types.js';

export const Id = z.uuid().describe('A UUID.');
export const IdParams = z.object({ id: Id });
export const Timestamp = z.string().describe('ISO-8601 time in UTC.');
const Labels = z.record(z.string(), z.string());

export const ErrorBody = z
  .object({
    code: z.string().describe('Stable machine-readable code (docs/errors.md).'),
    message: z.string(),
    requestId: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Error' });

const Role = z.enum(roles as [string, ...string[]]);
const Password = z.string().min(12, 'at least 12 characters').max(256);

export const User = z
  .object({ id: Id, username: z.string(), role: Role, disabled: z.boolean(), createdAt: Timestamp, updatedAt: Timestamp })
  .meta({ id: 'User' });
export const NewUser = z.object({
  username: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, '1 to 64 of A-Z a-z 0-9 . _ @ -'),
  password: Password,
  role: Role,
});
export const UserPatch = z.object({ role: Role.optional(), password: Password.optional(), disabled: z.boolean().optional() }).strict();

export const Login = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) });
export const TokenPair = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().describe('Seconds until the access token expires.'),
    refreshToken: z.string().describe('Exchange it at POST /api/auth/refresh before it expires; each use returns a new one.'),
    refreshExpiresIn: z.number().int(),
    user: User,
  })
  .meta({ id: 'TokenPair' });
export const Refresh = z.object({ refreshToken: z.string().min(1).max(512) });
export const Logout = z.object({ refreshToken: z.string().min(1).max(512).optional() });
export const PasswordChange = z.object({ currentPassword: z.string().min(1).max(256), newPassword: Password });
export const Me = z.object({ id: Id, username: z.string(), role: Role, expiresAt: z.number().int().describe('Access token expiry, Unix seconds.') });

export const DeviceStatus = z.object({
  state: z.enum(['online', 'stale', 'never']).describe('online: wrote in the last 60 s; stale: wrote before; never: no accepted write yet.'),
  lastSeenAt: Timestamp.nullable(),
  samplesPerSecond: z.number().describe('Accepted samples per second over the latest complete 10 s window (about 3 to 13 s ago), summed over every gateway instance sharing the cache.'),
  lastError: z.string().nullable(),
  lastErrorAt: Timestamp.nullable(),
});
export const Device = z
  .object({
    id: Id,
    name: z.string(),
    description: z.string(),
    labels: Labels,
    createdAt: Timestamp,
    updatedAt: Timestamp,
    status: DeviceStatus,
  })
  .meta({ id: 'Device' });
const DeviceName = z.string().min(1).max(128).regex(/^[^\p{Cc}]+$/u, 'no control characters');
const LabelsIn = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a label name is [A-Za-z_][A-Za-z0-9_]*, at most 64 characters'), z.string().max(256).regex(/^[^\p{Cc}]*$/u, 'no control characters'))
  .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels')
  .refine((l) => !Object.keys(l).some((k) => k.startsWith('__')), 'label names starting with __ are reserved');
/** A device's labels go on every sample it writes, beside `device` (its name), which they cannot replace. */
const DeviceLabelsIn = LabelsIn.refine((l) => !('device' in l), 'the label "device" is the device\'s name; rename the device instead');

export const DeviceToken = z
  .object({
    id: Id,
    deviceId: Id,
    name: z.string(),
    prefix: z.string().describe('The first characters of the token, to tell tokens apart.'),
    createdAt: Timestamp,
    expiresAt: Timestamp.nullable(),
    revokedAt: Timestamp.nullable(),
    lastUsedAt: Timestamp.nullable(),
    state: z.enum(['active', 'expiring', 'expired', 'revoked']).describe('expiring: active with an expiry set (e.g. the old token of a rotation).'),
  })
  .meta({ id: 'DeviceToken' });
const TokenOptions = z.object({
  name: z.string().max(128).optional(),
  expiresInSeconds: z.number().int().min(60).max(10 * 365 * 86_400).optional().describe('The token stops working this long after it is issued; absent: never expires.'),
});
export const NewDevice = z.object({ name: DeviceName, description: z.string().max(1024).optional(), labels: DeviceLabelsIn.optional(), token: TokenOptions.optional() });
export const DevicePatch = z.object({ name: DeviceName.optional(), description: z.string().max(1024).optional(), labels: DeviceLabelsIn.optional() }).strict();
export const IssuedToken = DeviceToken.extend({
  token: z.string().describe('The secret: shown only in this reply. Send it as "Authorization: Token <token>" (or Bearer, Basic, ?token=).'),
  rotated: DeviceToken.optional().describe('The token this one replaces, now expiring after the overlap.'),
}).meta({ id: 'IssuedToken' });
export const CreatedDevice = Device.extend({
  token: z.string().describe('The first ingest token of the device: shown only in this reply.'),
  tokenInfo: DeviceToken,
}).meta({ id: 'CreatedDevice' });
export const NewToken = TokenOptions.extend({
  rotate: z
    .object({
      tokenId: Id.describe('The token to replace.'),
      overlapSeconds: z.number().int().min(0).max(30 * 86_400).default(3600).describe('How long the old token keeps working, so devices can switch.'),
    })
    .optional(),
});
export const TokenParams = z.object({ id: Id, tokenId: Id });

const Severity = z.enum(['info', 'warning', 'critical']);
export const AlertRule = z
  .object({
    id: Id,
    name: z.string(),
    expr: z.string(),
    forSeconds: z.number().int(),
    severity: Severity,
    labels: Labels,
    annotations: Labels,
    enabled: z.boolean(),
    groupBy: z.array(z.string()),
    parentId: Id.nullable(),
    inhibitLabels: z.array(z.string()),
    repeatSeconds: z.number().int(),
    cooldownSeconds: z.number().int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'AlertRule' });
const RuleFields = {
  name: z.string().min(1).max(128),
  expr: z
    .string()
    .min(1)
    .max(4096)
    .describe('The condition (docs/alerts.md): `<query> <op> <number>`, `anomaly(<selector>[, "<model>"]) <op> <score>`, `reaches(<query>, <op> <number>, <within>[, <window>])`, or a query whose every series is an alert.')
    .superRefine((v, ctx) => {
      try {
        parseCondition(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
    }),
  forSeconds: z.number().int().min(0).max(86_400 * 7),
  severity: Severity,
  labels: LabelsIn,
  annotations: z.record(z.string().max(64), z.string().max(4096)),
  enabled: z.boolean(),
  groupBy: z.array(z.string().min(1).max(128)).max(32).describe('Labels whose values split the alerts into notification groups ([]: one group per rule).'),
  parentId: Id.nullable().describe('A rule whose firing alerts mute this rule\'s (inhibition).'),
  inhibitLabels: z.array(z.string().min(1).max(128)).max(32).describe('Labels a parent\'s alert and this rule\'s must agree on to mute it ([]: any firing parent alert mutes).'),
  repeatSeconds: z.number().int().min(60).max(86_400 * 30).describe('An unchanged group is notified again after this long (default 4 h).'),
  cooldownSeconds: z.number().int().min(0).max(86_400).describe('A group\'s new firing set is notified at most once per this long (default 0).'),
};
export const NewAlertRule = z.object({
  name: RuleFields.name,
  expr: RuleFields.expr,
  forSeconds: RuleFields.forSeconds.optional(),
  severity: RuleFields.severity.optional(),
  labels: RuleFields.labels.optional(),
  annotations: RuleFields.annotations.optional(),
  enabled: RuleFields.enabled.optional(),
  groupBy: RuleFields.groupBy.optional(),
  parentId: RuleFields.parentId.optional(),
  inhibitLabels: RuleFields.inhibitLabels.optional(),
  repeatSeconds: RuleFields.repeatSeconds.optional(),
  cooldownSeconds: RuleFields.cooldownSeconds.optional(),
});
export const AlertRulePatch = NewAlertRule.partial().strict();

const ConnectorKind = z.enum(connectorKinds as [string, ...string[]]);
export const ConnectorStatus = z
  .object({
    state: z.enum(['connecting', 'up', 'backoff', 'failed', 'stopped']),
    since: Timestamp.describe('When it entered this state.'),
    lastSuccessAt: Timestamp.nullable().describe('When it last connected or received data; null: never.'),
    lastError: z.object({ at: Timestamp, reason: z.string() }).nullable(),
    readingsPerSecond: z.number().describe('Samples written per second over the last 10 s.'),
    readingsTotal: z.number(),
    messagesTotal: z.number(),
    unparseableTotal: z.number(),
    droppedTotal: z.number(),
    unavailableTotal: z.number().optional().describe('Home Assistant: states read as unavailable or unknown (counted, never written as numbers).'),
    badStatus: z.record(z.string(), z.number()).optional().describe('OPC-UA: values read with a status other than Good, by status name (counted, never written as numbers).'),
    quarantined: z
      .array(z.object({ name: z.string(), device: z.string().optional(), table: z.string().optional(), address: z.number(), error: z.string(), since: Timestamp }))
      .optional()
      .describe('Modbus: registers the device refused (an exception), polled alone and rarely while the others keep flowing.'),
    latePollsTotal: z.number().optional().describe('Modbus: poll slots skipped because the poll before overran them (never bunched up).'),
    instance: z.string().nullable().describe('The gateway instance running it (host:pid); null: none.'),
    staleness: z
      .object({
        series: z.object({ learning: z.number(), fresh: z.number(), stale: z.number() }).describe('Series tracked, by freshness.'),
        devices: z.object({ learning: z.number(), fresh: z.number(), stale: z.number(), offline: z.number() }).describe('Devices tracked, by state.'),
        staleDeviceNames: z.array(z.string()).describe('The stale devices (at most 1000).'),
        untracked: z.number().describe('Series and devices beyond the bounds, not tracked.'),
      })
      .describe('Learned staleness: a series or device is stale once silent for several of its own reporting intervals (docs/connectors.md).'),
  })
  .meta({ id: 'ConnectorStatus' });
const Freshness = z.enum(['learning', 'fresh', 'stale']).describe('learning: its interval is not known yet; stale: silent for more than 3 of its intervals.');
export const WatchedSeries = z
  .object({
    labels: z.record(z.string(), z.string()),
    lastSeenAt: Timestamp.describe('When its last sample arrived.'),
    intervalMs: z.number().nullable().describe('Its learned reporting interval; null while learning.'),
    freshness: Freshness,
  })
  .meta({ id: 'WatchedSeries' });
export const WatchedDevice = WatchedSeries.extend({
  key: z.string().describe('Its identity, stable across renames (a Zigbee IEEE address, the topic captures).'),
  availability: z.enum(['online', 'offline']).nullable().describe('From its own availability reports (Zigbee2MQTT); null: it sends none.'),
}).meta({ id: 'WatchedDevice' });
export const BrowseQuery = z.object({ node: z.string().min(1).max(4096).optional().describe('A NodeId such as ns=2;s=Plant or i=85 (the Objects folder, the default).') });
export const Browsed = z
  .object({
    node: z.string(),
    references: z.array(
      z.object({
        nodeId: z.string(),
        browseName: z.string().describe('With its namespace index, as a browsePath step: 2:Temperature.'),
        displayName: z.string(),
        nodeClass: z.string(),
        dataType: z.string().optional(),
        hasChildren: z.boolean(),
      }),
    ),
    truncated: z.boolean().describe('More than 1000 references: the rest are not listed.'),
  })
  .meta({ id: 'Browsed' });
export const ThumbprintParams = z.object({ thumbprint: z.string().describe('The SHA-1 of the certificate, 40 hex digits.') });
export const OpcuaCertificate = z
  .object({
    thumbprint: z.string(),
    subject: z.string(),
    applicationUri: z.string().optional(),
    notBefore: z.string(),
    notAfter: z.string(),
    state: z.enum(['trusted', 'rejected']),
  })
  .meta({ id: 'OpcuaCertificate' });
export const WatchQuery = z.object({
  stale: z.enum(['true', 'false']).optional().describe('true: only stale (and, for devices, offline) ones.'),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});
export const Connector = z
  .object({
    id: Id,
    name: z.string(),
    kind: ConnectorKind,
    config: z.record(z.string(), z.unknown()).describe('Its settings, without secrets.'),
    secrets: z.array(z.string()).describe('The secret settings that are set (e.g. password, tls.key): write-only, never returned.'),
    enabled: z.boolean(),
    source: z
      .enum(['api', 'file'])
      .describe('api: created and changed through this API. file: defined in the YAML config file (connectors), applied at start; PATCH and DELETE are refused with SENTIO_ERR_READ_ONLY.'),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    status: ConnectorStatus,
  })
  .meta({ id: 'Connector' });
export const NewConnector = z.object({
  name: z.string().min(1).max(128),
  kind: ConnectorKind,
  config: z.record(z.string(), z.unknown()).describe('Kind-specific settings (docs/connectors.md), checked against the kind: errors name each field (config.<path>).'),
  enabled: z.boolean().optional(),
});
export const ConnectorPatch = z
  .object({
    name: z.string().min(1).max(128).optional(),
    config: z.record(z.string(), z.unknown()).optional().describe('The whole new config; secrets it leaves out are kept (send null to remove one).'),
    enabled: z.boolean().optional(),
  })
  .strict();

export const AuditEntry = z
  .object({ id: z.string(), at: Timestamp, actor: z.string(), action: z.string(), target: z.string(), ip: z.string(), details: z.record(z.string(), z.unknown()) })
  .meta({ id: 'AuditEntry' });
export const AuditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  before: z.string().regex(/^\d+$/).optional().describe('Entries older than this id (paging).'),
  actor: z.string().max(200).optional(),
  action: z.string().max(200).optional().describe('An action, or a prefix ending in "." such as "device.".'),
  target: z.string().max(200).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});

export const GatewayStatus = z
  .object({
    instance: z.string().describe('The answering instance (host:pid).'),
    time: Timestamp,
    uptimeSeconds: z.number(),
    ingest: z.object({
      samplesPerSecond: z.number(),
      byProtocol: z.record(z.string(), z.number()).describe('Accepted samples per second by protocol (influx_v1, influx_v2, ws, ...).'),
      rejectedPointsPerSecond: z.number(),
      rejectedRequestsPerSecond: z.number(),
      acceptedSamplesTotal: z.number(),
      rejectedPointsTotal: z.number(),
      rejectedRequestsTotal: z.number(),
    }),
    sink: z.object({ name: z.string(), healthy: z.boolean(), detail: z.string().nullable() }).describe('Every sink at once: their names, healthy when all are, and what any of them reports.'),
    sinks: z.array(z.object({ name: z.string(), type: z.string(), healthy: z.boolean(), detail: z.string().nullable() })).describe('Each sink.'),
    queue: z.array(z.object({ sink: z.string(), shard: z.number().int(), records: z.number().int(), samples: z.number(), bytes: z.number(), oldestAgeSeconds: z.number() })).describe('Durable queue per sink and shard (empty without one).'),
    mainThreadLoad: z.number().describe('Event-loop utilization of the main thread, 0..1.'),
  })
  .meta({ id: 'GatewayStatus' });

export const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
