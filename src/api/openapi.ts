// The OpenAPI 3.1 document, generated from the route declarations: paths,
// parameters, bodies and replies come from the same zod schemas the router
// validates with (zod's JSON Schema output is draft 2020-12, the dialect of
// OpenAPI 3.1). Served at GET /api/openapi.json.

import { z } from 'zod';
import { ErrorCodes } from '../errors.js';
import type { RouteDef } from './router.js';
import { ErrorBody } from './schemas.js';

type Json = Record<string, unknown>;

function schemaOf(s: z.ZodType, io: 'input' | 'output', components: Record<string, Json>): Json {
  const out = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12', reused: 'inline' }) as Json & { $defs?: Record<string, Json> };
  delete out.$schema;
  // Named schemas (.meta({ id })) come back as $defs: move them to components.
  for (const [name, def] of Object.entries(out.$defs ?? {})) components[name] = def;
  delete out.$defs;
  return JSON.parse(JSON.stringify(out).replaceAll('"#/$defs/', '"#/components/schemas/')) as Json;
}

function parameters(s: z.ZodType | undefined, where: 'path' | 'query', components: Record<string, Json>): Json[] {
  if (!s) return [];
  const obj = schemaOf(s, 'input', components) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(obj.properties ?? {}).map(([name, schema]) => {
    const { description, ...rest } = schema as Json & { description?: string };
    return { name, in: where, required: where === 'path' || (obj.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest };
  });
}

export function openApiDocument(routes: readonly RouteDef[], info: { version: string }): Json {
  const components: Record<string, Json> = {};
  const paths: Record<string, Record<string, Json>> = {};
  const errorRef = { $ref: '#/components/schemas/Error' };
  schemaOf(z.object({ e: ErrorBody }), 'output', components);
  for (const r of routes) {
    const status = String(r.status ?? (r.response ? 200 : 204));
    const errors = new Set<string>(['SENTIO_ERR_VALIDATION', 'SENTIO_ERR_RATE_LIMITED', 'SENTIO_ERR_STORE_UNAVAILABLE', 'SENTIO_ERR_INTERNAL', ...(r.errors ?? [])]);
    if (r.access !== 'public') errors.add('SENTIO_ERR_UNAUTHORIZED').add('SENTIO_ERR_TOKEN_EXPIRED').add('SENTIO_ERR_FORBIDDEN');
    if (r.params) errors.add('SENTIO_ERR_NOT_FOUND');
    const byStatus = new Map<number, string[]>();
    for (const code of errors) {
      const st = ErrorCodes[code as keyof typeof ErrorCodes].status;
      byStatus.set(st, [...(byStatus.get(st) ?? []), code]);
    }
    const responses: Json = {
      [status]: r.response ? { description: 'Success', content: { 'application/json': { schema: schemaOf(r.response, 'output', components) } } } : { description: 'Success, no content' },
    };
    for (const [st, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
      responses[String(st)] = { description: codes.join(', '), content: { 'application/json': { schema: errorRef } } };
    }
    const op: Json = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      security: r.access === 'public' ? [] : [{ bearer: [] }],
      'x-sentio-min-role': r.access,
      parameters: [...parameters(r.params, 'path', components), ...parameters(r.query, 'query', components)],
      ...(r.body ? { requestBody: { required: !r.body.safeParse(undefined).success, content: { 'application/json': { schema: schemaOf(r.body, 'input', components) } } } } : {}),
      responses,
    };
    (paths[r.path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sentio control-plane API',
      version: info.version,
      description: 'Users, devices and their ingest tokens, alert rules, connector configurations, the audit log, status and queries. Errors carry a stable `code` (docs/errors.md). Log in at POST /api/auth/login and send the access token as `Authorization: Bearer <token>`.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
