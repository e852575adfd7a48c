// The REST API's routes: auth, users, devices and their tokens, alert
// rules, connector configurations, the audit log and gateway status.
// Query routes are in query-routes.ts. Who may do what:
//   viewer    read devices, rules, connectors, status; query data
//   operator  + create/change devices, tokens, rules, connectors; read the audit log
//   admin     + users
// Every mutation is written to the audit log (who, what, when, from where).

import { z } from 'zod';
import type { DeviceTokens } from '../auth/devices.js';
import { hashPassword, verifyPassword } from '../auth/passwords.js';
import type { Sessions } from '../auth/sessions.js';
import { SentioError } from '../errors.js';
import { keepSecrets, redactSecrets, validateConnectorConfig } from '../connectors/index.js';
import type { DeviceView, SeriesView, WatchedQuery } from '../connectors/staleness.js';
import type { Browsed } from '../connectors/opcua/browse.js';
import type { CertificateView } from '../connectors/opcua/trust.js';
import type { ConnectorStatusView } from '../connectors/status.js';
import type { ConnectorConfig as StoredConnector, ConnectorKind, Device as StoredDevice, DeviceToken as StoredToken, MetaStore } from '../store/types.js';
import type { DeviceActivityTracker } from './device-activity.js';
import type { GatewayStatus } from './status.js';
import { route, type RouteDef } from './router.js';
import * as S from './schemas.js';

export interface ApiServices {
  store: MetaStore;
  sessions: Sessions;
  deviceTokens: DeviceTokens;
  activity: DeviceActivityTracker;
  /** Gateway status: ingest rates, queue, sink health (also streamed on /live). */
  status: () => GatewayStatus;
  connectors: ConnectorControl;
}

/** What the API needs of the connector runtime (src/connectors/runtime.ts). */
export interface ConnectorControl {
  status(c: StoredConnector): Promise<ConnectorStatusView>;
  /** Its tracked devices or series with their learned freshness (from the instance running it). */
  watched(c: StoredConnector, what: 'devices', o: WatchedQuery): Promise<DeviceView[]>;
  watched(c: StoredConnector, what: 'series', o: WatchedQuery): Promise<SeriesView[]>;
  /** A connector was created, changed or deleted: resolves once the runtime has acted on it here. */
  changed(): Promise<void>;
  /** OPC-UA: the nodes below `node` (default the Objects folder) on the connector's server. */
  browse(c: StoredConnector, node: string | undefined): Promise<Browsed>;
  /** OPC-UA: the server certificates this gateway has seen. */
  certificates(): Promise<CertificateView[]>;
  trustCertificate(thumbprint: string, trusted: boolean): Promise<CertificateView>;
}

const ONLINE_MS = 60_000;

function notFound(what: string, id: string): SentioError {
  return new SentioError('SENTIO_ERR_NOT_FOUND', `no ${what} ${id}`);
}

/** A connector the API may change: one of source api (the file's are changed in the file). */
function changeable(c: StoredConnector, verb: 'changed' | 'deleted'): StoredConnector {
  if (c.source === 'file') {
    throw new SentioError(
      'SENTIO_ERR_READ_ONLY',
      `connector ${c.name} is defined in the config file (connectors): it cannot be ${verb} through the API; change the file and restart a gateway`,
    );
  }
  return c;
}

export function tokenView(t: StoredToken, now = Date.now()) {
  const state = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && Date.parse(t.expiresAt) <= now ? 'expired' : t.expiresAt !== null ? 'expiring' : 'active';
  return { ...t, state } as const;
}

export function authRoutes(s: ApiServices): RouteDef<any, any, any, any>[] {
  return [
    route({
      method: 'post', path: '/api/auth/login', operationId: 'login', tag: 'auth', access: 'public',
      summary: 'Log in with a username and password; returns an access token (JWT) and a refresh token.',
      body: S.Login, response: S.TokenPair, errors: ['SENTIO_ERR_LOGIN_FAILED', 'SENTIO_ERR_RATE_LIMITED'],
      async handler(ctx) {
        try {
          const pair = await s.sessions.login(ctx.body.username, ctx.body.password, ctx.ip);
          await ctx.audit('auth.login', `user:${pair.user.id}`, {}, `user:${pair.user.username}`);
          return pair;
        } catch (err) {
          if (err instanceof SentioError && err.code === 'SENTIO_ERR_LOGIN_FAILED') await ctx.audit('auth.login_failed', '', { username: ctx.body.username }, 'anonymous');
          throw err;
        }
      },
    }),
    route({
      method: 'post', path: '/api/auth/refresh', operationId: 'refresh', tag: 'auth', access: 'public',
      summary: 'Exchange a refresh token for a new access token and a new refresh token (the old one stops working; reusing it revokes the session).',
      body: S.Refresh, response: S.TokenPair,
      handler: (ctx) => s.sessions.refresh(ctx.body.refreshToken),
    }),
    route({
      method: 'post', path: '/api/auth/logout', operationId: 'logout', tag: 'auth', access: 'viewer',
      summary: 'End the session: its refresh token and the access tokens issued from it stop working.',
      body: S.Logout.optional(), status: 204,
      async handler(ctx) {
        await s.sessions.logout(ctx.user!, ctx.body?.refreshToken);
        await ctx.audit('auth.logout', `user:${ctx.user!.sub}`);
        return undefined;
      },
    }),
    route({
      method: 'get', path: '/api/auth/me', operationId: 'me', tag: 'auth', access: 'viewer',
      summary: 'Who the access token belongs to.', response: S.Me,
      handler: async (ctx) => ({ id: ctx.user!.sub, username: ctx.user!.name, role: ctx.user!.role, expiresAt: ctx.user!.exp }),
    }),
    route({
      method: 'put', path: '/api/auth/password', operationId: 'changePassword', tag: 'auth', access: 'viewer',
      summary: 'Change your own password; your other sessions end.', body: S.PasswordChange, status: 204,
      errors: ['SENTIO_ERR_LOGIN_FAILED'],
      async handler(ctx) {
        const u = await s.store.getUser(ctx.user!.sub);
        if (!u || !(await verifyPassword(ctx.body.currentPassword, u.passwordHash))) throw new SentioError('SENTIO_ERR_LOGIN_FAILED', 'the current password is wrong');
        await s.store.updateUser(u.id, { passwordHash: await hashPassword(ctx.body.newPassword) });
        await s.sessions.revokeUser(u.id);
        await ctx.audit('user.password', `user:${u.id}`);
        return undefined;
      },
    }),
  ];
}

export function userRoutes(s: ApiServices): RouteDef<any, any, any, any>[] {
  return [
    route({
      method: 'get', path: '/api/users', operationId: 'listUsers', tag: 'users', access: 'admin', summary: 'List users.',
      response: S.list(S.User), handler: async () => ({ items: await s.store.listUsers() }),
    }),
    route({
      method: 'post', path: '/api/users', operationId: 'createUser', tag: 'users', access: 'admin', summary: 'Create a user.',
      body: S.NewUser, status: 201, response: S.User, errors: ['SENTIO_ERR_CONFLICT'],
      async handler(ctx) {
        const u = await s.store.createUser({ username: ctx.body.username, role: ctx.body.role as 'viewer', passwordHash: await hashPassword(ctx.body.password) });
        await ctx.audit('user.create', `user:${u.id}`, { username: u.username, role: u.role });
        return u;
      },
    }),
    route({
      method: 'get', path: '/api/users/{id}', operationId: 'getUser', tag: 'users', access: 'admin', summary: 'One user.',
      params: S.IdParams, response: S.User,
      async handler(ctx) {
        const u = await s.store.getUser(ctx.params.id);
        if (!u) throw notFound('user', ctx.params.id);
        return u;
      },
    }),
    route({
      method: 'patch', path: '/api/users/{id}', operationId: 'updateUser', tag: 'users', access: 'admin',
      summary: "Change a user's role, reset their password or disable them; their sessions end.",
      params: S.IdParams, body: S.UserPatch, response: S.User,
      async handler(ctx) {
        const { password, ...rest } = ctx.body;
        if (ctx.params.id === ctx.user!.sub && (rest.role !== undefined && rest.role !== 'admin' || rest.disabled === true)) {
          throw new SentioError('SENTIO_ERR_FORBIDDEN', 'you cannot demote or disable yourself');
        }
        const u = await s.store.updateUser(ctx.params.id, { ...(rest as { role?: 'viewer' }), ...(password !== undefined ? { passwordHash: await hashPassword(password) } : {}) });
        if (!u) throw notFound('user', ctx.params.id);
        await s.sessions.revokeUser(u.id);
        await ctx.audit('user.update', `user:${u.id}`, { ...rest, ...(password !== undefined ? { password: 'reset' } : {}) });
        return u;
      },
    }),
    route({
      method: 'delete', path: '/api/users/{id}', operationId: 'deleteUser', tag: 'users', access: 'admin', summary: 'Delete a user; their sessions end.',
      params: S.IdParams, status: 204,
      async handler(ctx) {
        if (ctx.params.id === ctx.user!.sub) throw new SentioError('SENTIO_ERR_FORBIDDEN', 'you cannot delete yourself');
        await s.sessions.revokeUser(ctx.params.id);
        if (!(await s.store.deleteUser(ctx.params.id))) throw notFound('user', ctx.params.id);
        await ctx.audit('user.delete', `user:${ctx.params.id}`);
        return undefined;
      },
    }),
  ];
}

export function deviceRoutes(s: ApiServices): RouteDef<any, any, any, any>[] {
  const view = (d: StoredDevice, samplesPerSecond: number) => {
    // This instance's own latest write is ahead of what reached the store.
    const stored = d.lastSeenAt === null ? null : Date.parse(d.lastSeenAt);
    const local = s.activity.lastSeenMs(d.id);
    const seen = local !== undefined && (stored === null || local > stored) ? local : stored;
    const lastSeenAt = seen === stored ? d.lastSeenAt : new Date(seen!).toISOString();
    return {
      id: d.id, name: d.name, description: d.description, labels: d.labels, createdAt: d.createdAt, updatedAt: d.updatedAt,
      status: {
        state: seen === null ? 'never' : Date.now() - seen < ONLINE_MS ? 'online' : 'stale',
        lastSeenAt,
        samplesPerSecond,
        lastError: d.lastError,
        lastErrorAt: d.lastErrorAt,
      },
    };
  };
  /** Devices with their fleet-wide rates (a cache failure leaves the rates at 0 and is counted, not fatal). */
  const views = async (devices: StoredDevice[]) => {
    const rates = await s.activity.rates(devices.map((d) => d.id)).catch((err: unknown) => {
      s.activity.reportError(err);
      return new Map<string, number>();
    });
    return devices.map((d) => view(d, rates.get(d.id) ?? 0));
  };
  const one = async (d: StoredDevice) => (await views([d]))[0]!;
  const expiry = (seconds: number | undefined) => (seconds === undefined ? null : new Date(Date.now() + seconds * 1000).toISOString());
  const device = async (id: string) => {
    const d = await s.store.getDevice(id);
    if (!d) throw notFound('device', id);
    return d;
  };
  return [
    route({
      method: 'get', path: '/api/devices', operationId: 'listDevices', tag: 'devices', access: 'viewer', summary: 'List devices with their status.',
      response: S.list(S.Device), handler: async () => ({ items: await views(await s.store.listDevices()) }),
    }),
    route({
      method: 'post', path: '/api/devices', operationId: 'createDevice', tag: 'devices', access: 'operator',
      summary: 'Create a device; the reply carries its first ingest token (`token`), shown only once.',
      body: S.NewDevice, status: 201, response: S.CreatedDevice, errors: ['SENTIO_ERR_CONFLICT'],
      async handler(ctx) {
        const { token: tokenOpts, ...fields } = ctx.body;
        const d = await s.store.createDevice(fields);
        const issued = await s.deviceTokens.issue(d.id, { name: tokenOpts?.name ?? 'initial', expiresAt: expiry(tokenOpts?.expiresInSeconds) });
        await ctx.audit('device.create', `device:${d.id}`, { name: d.name, tokenId: issued.record.id });
        return { ...view(d, 0), token: issued.token, tokenInfo: tokenView(issued.record) };
      },
    }),
    route({
      method: 'get', path: '/api/devices/{id}', operationId: 'getDevice', tag: 'devices', access: 'viewer', summary: 'One device with its status.',
      params: S.IdParams, response: S.Device, handler: async (ctx) => one(await device(ctx.params.id)),
    }),
    route({
      method: 'patch', path: '/api/devices/{id}', operationId: 'updateDevice', tag: 'devices', access: 'operator', summary: "Rename a device or change its description or labels.",
      params: S.IdParams, body: S.DevicePatch, response: S.Device, errors: ['SENTIO_ERR_CONFLICT'],
      async handler(ctx) {
        const d = await s.store.updateDevice(ctx.params.id, ctx.body);
        if (!d) throw notFound('device', ctx.params.id);
        // Its next write carries the new name and labels, on every instance.
        if (ctx.body.name !== undefined || ctx.body.labels !== undefined) await s.deviceTokens.deviceChanged(d.id);
        await ctx.audit('device.update', `device:${d.id}`, ctx.body);
        return one(d);
      },
    }),
    route({
      method: 'delete', path: '/api/devices/{id}', operationId: 'deleteDevice', tag: 'devices', access: 'operator', summary: 'Delete a device; its tokens stop working at once.',
      params: S.IdParams, status: 204,
      async handler(ctx) {
        const tokens = await s.store.listDeviceTokens(ctx.params.id);
        for (const t of tokens) if (t.revokedAt === null) await s.deviceTokens.revoke(ctx.params.id, t.id);
        if (!(await s.store.deleteDevice(ctx.params.id))) throw notFound('device', ctx.params.id);
        for (const t of tokens) await s.deviceTokens.changed(t.id, true);
        await ctx.audit('device.delete', `device:${ctx.params.id}`);
        return undefined;
      },
    }),
    route({
      method: 'get', path: '/api/devices/{id}/tokens', operationId: 'listDeviceTokens', tag: 'devices', access: 'operator',
      summary: "A device's ingest tokens: ids and metadata, never the secrets.",
      params: S.IdParams, response: S.list(S.DeviceToken),
      async handler(ctx) {
        await device(ctx.params.id);
        return { items: (await s.store.listDeviceTokens(ctx.params.id)).map((t) => tokenView(t)) };
      },
    }),
    route({
      method: 'post', path: '/api/devices/{id}/tokens', operationId: 'createDeviceToken', tag: 'devices', access: 'operator',
      summary: 'Issue another ingest token (shown only in this reply); with `rotate`, the named token keeps working for the overlap, then expires.',
      params: S.IdParams, body: S.NewToken, status: 201, response: S.IssuedToken,
      async handler(ctx) {
        await device(ctx.params.id);
        const { rotate } = ctx.body;
        let rotated: StoredToken | undefined;
        if (rotate) {
          const old = await s.store.getDeviceToken(ctx.params.id, rotate.tokenId);
          if (!old || old.revokedAt !== null) throw notFound(`active token of device ${ctx.params.id}:`, rotate.tokenId);
        }
        const issued = await s.deviceTokens.issue(ctx.params.id, { name: ctx.body.name ?? (rotate ? 'rotated' : ''), expiresAt: expiry(ctx.body.expiresInSeconds) });
        if (rotate) rotated = await s.deviceTokens.expire(ctx.params.id, rotate.tokenId, new Date(Date.now() + rotate.overlapSeconds * 1000).toISOString());
        await ctx.audit(rotate ? 'token.rotate' : 'token.create', `device:${ctx.params.id}`, { tokenId: issued.record.id, ...(rotate ? { replaces: rotate.tokenId, overlapSeconds: rotate.overlapSeconds } : {}) });
        return { ...tokenView(issued.record), token: issued.token, ...(rotated ? { rotated: tokenView(rotated) } : {}) };
      },
    }),
    route({
      method: 'delete', path: '/api/devices/{id}/tokens/{tokenId}', operationId: 'revokeDeviceToken', tag: 'devices', access: 'operator',
      summary: 'Revoke one ingest token: writes with it are refused (401) within seconds on every instance.',
      params: S.TokenParams, status: 204,
      async handler(ctx) {
        const t = await s.deviceTokens.revoke(ctx.params.id, ctx.params.tokenId);
        if (!t) throw notFound(`token of device ${ctx.params.id}:`, ctx.params.tokenId);
        await ctx.audit('token.revoke', `device:${ctx.params.id}`, { tokenId: t.id });
        return undefined;
      },
    }),
  ];
}

/** CRUD routes of a simple stored resource (alert rules, connectors). */
function crud<T extends { id: string }>(o: {
  path: string; tag: string; noun: string; action: string;
  schema: z.ZodType; create: z.ZodType; patch: z.ZodType; readAccess: 'viewer' | 'operator';
  list(): Promise<T[]>; get(id: string): Promise<T | undefined>; add(v: any): Promise<T>; update(id: string, v: any): Promise<T | undefined>; remove(id: string): Promise<boolean>;
}): RouteDef<any, any, any, any>[] {
  const Name = o.noun[0]!.toUpperCase() + o.noun.slice(1).replace(/ (\w)/g, (_, c: string) => c.toUpperCase());
  return [
    route({ method: 'get', path: o.path, operationId: `list${Name}s`, tag: o.tag, access: o.readAccess, summary: `List ${o.noun}s.`, response: S.list(o.schema), handler: async () => ({ items: await o.list() }) }),
    route({
      method: 'post', path: o.path, operationId: `create${Name}`, tag: o.tag, access: 'operator', summary: `Create ${o.noun === 'alert rule' ? 'an' : 'a'} ${o.noun}.`,
      body: o.create, status: 201, response: o.schema, errors: ['SENTIO_ERR_CONFLICT'],
      async handler(ctx) {
        const v = await o.add(ctx.body);
        await ctx.audit(`${o.action}.create`, `${o.action}:${v.id}`, { name: (v as { name?: string }).name });
        return v;
      },
    }),
    route({
      method: 'get', path: `${o.path}/{id}`, operationId: `get${Name}`, tag: o.tag, access: o.readAccess, summary: `One ${o.noun}.`, params: S.IdParams, response: o.schema,
      async handler(ctx) {
        const v = await o.get(ctx.params.id);
        if (!v) throw notFound(o.noun, ctx.params.id);
        return v;
      },
    }),
    route({
      method: 'patch', path: `${o.path}/{id}`, operationId: `update${Name}`, tag: o.tag, access: 'operator', summary: `Change ${o.noun === 'alert rule' ? 'an' : 'a'} ${o.noun}.`,
      params: S.IdParams, body: o.patch, response: o.schema, errors: ['SENTIO_ERR_CONFLICT'],
      async handler(ctx) {
        const v = await o.update(ctx.params.id, ctx.body);
        if (!v) throw notFound(o.noun, ctx.params.id);
        await ctx.audit(`${o.action}.update`, `${o.action}:${v.id}`, { fields: Object.keys(ctx.body as object) });
        return v;
      },
    }),
    route({
      method: 'delete', path: `${o.path}/{id}`, operationId: `delete${Name}`, tag: o.tag, access: 'operator', summary: `Delete ${o.noun === 'alert rule' ? 'an' : 'a'} ${o.noun}.`, params: S.IdParams, status: 204,
      async handler(ctx) {
        if (!(await o.remove(ctx.params.id))) throw notFound(o.noun, ctx.params.id);
        await ctx.audit(`${o.action}.delete`, `${o.action}:${ctx.params.id}`);
        return undefined;
      },
    }),
  ];
}

export function ruleAndConnectorRoutes(s: ApiServices): RouteDef<any, any, any, any>[] {
  const st = s.store;
  return [
    ...connectorRoutes(s),
    ...crud({
      path: '/api/alert-rules', tag: 'alert rules', noun: 'alert rule', action: 'alert_rule', schema: S.AlertRule, create: S.NewAlertRule, patch: S.AlertRulePatch, readAccess: 'viewer',
      list: () => st.listAlertRules(), get: (id) => st.getAlertRule(id), add: (v) => st.createAlertRule(v), update: (id, v) => st.updateAlertRule(id, v), remove: (id) => st.deleteAlertRule(id),
    }),
  ];
}

/**
 * Connectors: configs checked against their kind, secrets write-only, each
 * answered with its live status; a change reaches the runtime at once (this
 * instance) or within its next pass (the others).
 */
function connectorRoutes(s: ApiServices): RouteDef<any, any, any, any>[] {
  const st = s.store;
  const view = async (c: StoredConnector) => {
    const { config, secrets } = redactSecrets(c.kind, c.config);
    return { ...c, config, secrets, status: await s.connectors.status(c) };
  };
  const base = { tag: 'connectors', errors: ['SENTIO_ERR_VALIDATION'] as const };
  return [
    // Connector settings may hold credentials (secrets are never returned, but hosts and users are): operators only.
    route({ method: 'get', path: '/api/connectors', operationId: 'listConnectors', tag: base.tag, access: 'operator', summary: 'List connectors, each with its status.', response: S.list(S.Connector), handler: async () => ({ items: await Promise.all((await st.listConnectors()).map(view)) }) }),
    route({
      method: 'post', path: '/api/connectors', operationId: 'createConnector', tag: base.tag, access: 'operator', summary: 'Create a connector (started at once when enabled).',
      body: S.NewConnector, status: 201, response: S.Connector, errors: ['SENTIO_ERR_CONFLICT', 'SENTIO_ERR_VALIDATION'],
      async handler(ctx) {
        const b = ctx.body as { name: string; kind: ConnectorKind; config: Record<string, unknown>; enabled?: boolean };
        const config = keepSecrets(b.kind, {}, b.config);
        validateConnectorConfig(b.kind, config, 'body.config');
        const c = await st.createConnector({ ...b, config });
        await ctx.audit('connector.create', `connector:${c.id}`, { name: c.name, kind: c.kind });
        await s.connectors.changed();
        return view(c);
      },
    }),
    route({
      method: 'get', path: '/api/connectors/{id}', operationId: 'getConnector', tag: base.tag, access: 'operator', summary: 'One connector and its status.', params: S.IdParams, response: S.Connector,
      async handler(ctx) {
        const c = await st.getConnector(ctx.params.id);
        if (!c) throw notFound('connector', ctx.params.id);
        return view(c);
      },
    }),
    route({
      method: 'patch', path: '/api/connectors/{id}', operationId: 'updateConnector', tag: base.tag, access: 'operator',
      summary: 'Change a connector: its name, config or enabled (start/stop); it restarts with the change. One defined in the config file (source file) is refused, enabled included.',
      params: S.IdParams, body: S.ConnectorPatch, response: S.Connector, errors: ['SENTIO_ERR_CONFLICT', 'SENTIO_ERR_READ_ONLY', 'SENTIO_ERR_VALIDATION'],
      async handler(ctx) {
        const found = await st.getConnector(ctx.params.id);
        if (!found) throw notFound('connector', ctx.params.id);
        // A connector's source never changes, so this check cannot go stale before the update.
        const old = changeable(found, 'changed');
        const p = ctx.body as { name?: string; config?: Record<string, unknown>; enabled?: boolean };
        const config = p.config === undefined ? undefined : keepSecrets(old.kind, old.config, p.config);
        // Enabling re-checks the stored config too (it may predate its kind's checks).
        if (config !== undefined || p.enabled === true) validateConnectorConfig(old.kind, config ?? old.config, config !== undefined ? 'body.config' : 'config');
        const c = await st.updateConnector(old.id, { ...p, ...(config !== undefined ? { config } : {}) });
        if (!c) throw notFound('connector', ctx.params.id);
        await ctx.audit('connector.update', `connector:${c.id}`, { fields: Object.keys(p) });
        await s.connectors.changed();
        return view(c);
      },
    }),
    ...(['devices', 'series'] as const).map((what) =>
      route({
        method: 'get', path: `/api/connectors/{id}/${what}`, operationId: what === 'devices' ? 'listConnectorDevices' : 'listConnectorSeries', tag: base.tag, access: 'operator',
        summary: what === 'devices' ? "A connector's devices, each with its learned reporting interval, freshness and availability; offline and stale first." : "A connector's series, each with its learned reporting interval and freshness; stale first.",
        params: S.IdParams, query: S.WatchQuery, response: S.list(what === 'devices' ? S.WatchedDevice : S.WatchedSeries),
        async handler(ctx) {
          const c = await st.getConnector(ctx.params.id);
          if (!c) throw notFound('connector', ctx.params.id);
          const q = ctx.query as { stale?: 'true' | 'false'; limit?: number };
          const o = { stale: q.stale === 'true', limit: q.limit ?? (what === 'devices' ? 10_000 : 1000) };
          return { items: what === 'devices' ? await s.connectors.watched(c, 'devices', o) : await s.connectors.watched(c, 'series', o) };
        },
      }),
    ),
    route({
      method: 'get', path: '/api/connectors/{id}/browse', operationId: 'browseConnector', tag: base.tag, access: 'operator',
      summary: "OPC-UA: the nodes below `node` (a NodeId; default the Objects folder) on the connector's server, browsed with its config (endpoint, security, user): to pick items.",
      params: S.IdParams, query: S.BrowseQuery, response: S.Browsed, errors: ['SENTIO_ERR_VALIDATION', 'SENTIO_ERR_PEER_UNAVAILABLE'],
      async handler(ctx) {
        const c = await st.getConnector(ctx.params.id);
        if (!c) throw notFound('connector', ctx.params.id);
        return s.connectors.browse(c, (ctx.query as { node?: string }).node);
      },
    }),
    route({
      method: 'get', path: '/api/opcua/certificates', operationId: 'listOpcuaCertificates', tag: base.tag, access: 'operator',
      summary: "OPC-UA server certificates this gateway has seen (in its data directory): rejected ones wait to be trusted.", response: S.list(S.OpcuaCertificate),
      handler: async () => ({ items: await s.connectors.certificates() }),
    }),
    ...(['trust', 'untrust'] as const).map((verb) =>
      route({
        method: 'post', path: `/api/opcua/certificates/{thumbprint}/${verb}`, operationId: verb === 'trust' ? 'trustOpcuaCertificate' : 'untrustOpcuaCertificate', tag: base.tag, access: 'operator',
        summary: verb === 'trust' ? "Trusts an OPC-UA server's certificate (by its SHA-1 thumbprint): connectors to that server connect at their next attempt." : 'Takes the trust of an OPC-UA server certificate back (it is rejected again).',
        params: S.ThumbprintParams, response: S.OpcuaCertificate, errors: ['SENTIO_ERR_VALIDATION'],
        async handler(ctx) {
          const tp = (ctx.params as { thumbprint: string }).thumbprint;
          const cert = await s.connectors.trustCertificate(tp, verb === 'trust');
          await ctx.audit(`opcua.certificate.${verb}`, `certificate:${cert.thumbprint}`, { subject: cert.subject });
          return cert;
        },
      }),
    ),
    route({
      method: 'delete', path: '/api/connectors/{id}', operationId: 'deleteConnector', tag: base.tag, access: 'operator',
      summary: 'Delete a connector (stopped first). One defined in the config file (source file) is refused.', params: S.IdParams, status: 204, errors: ['SENTIO_ERR_READ_ONLY'],
      async handler(ctx) {
        const c = await st.getConnector(ctx.params.id);
        if (!c) throw notFound('connector', ctx.params.id);
        changeable(c, 'deleted');
        if (!(await st.deleteConnector(c.id))) throw notFound('connector', ctx.params.id);
        await ctx.audit('connector.delete', `connector:${ctx.params.id}`);
        await s.connectors.changed();
        return undefined;
      },
    }),
  ];
}

export function auditAndStatusRoutes(s: ApiServices): RouteDef<any, any, any, any>[] {
  return [
    route({
      method: 'get', path: '/api/audit', operationId: 'listAudit', tag: 'audit', access: 'operator', summary: 'The audit log, newest first, filtered.',
      query: S.AuditQuery, response: S.list(S.AuditEntry),
      handler: async (ctx) => ({ items: await s.store.listAudit(ctx.query) }),
    }),
    route({
      method: 'get', path: '/api/status', operationId: 'status', tag: 'status', access: 'viewer',
      summary: 'Gateway status: ingest rates by protocol, accepted and rejected, queue depth per sink and shard, sink health.',
      response: S.GatewayStatus,
      handler: async () => s.status(),
    }),
  ];
}

