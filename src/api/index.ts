// The REST API (`/api`): JSON over the gateway's uWebSockets.js server.
// Routes are declared in routes.ts and query-routes.ts with zod schemas;
// router.ts runs them (auth, roles, limits, validation, audit, logs,
// metrics) and openapi.ts describes them at GET /api/openapi.json.

import { z } from 'zod';
import type { QueryEngine } from '../query/types.js';
import { openApiDocument } from './openapi.js';
import { type AlertServices, alertRoutes } from './alert-routes.js';
import { queryRoutes } from './query-routes.js';
import { type AnomalyModelServices, anomalyRoutes } from './anomaly-routes.js';
import { route, Router, type RouterDeps } from './router.js';
import { type ApiServices, auditAndStatusRoutes, authRoutes, deviceRoutes, ruleAndConnectorRoutes, userRoutes } from './routes.js';

export const API_VERSION = '1.0.0';

export function createApi(services: ApiServices, deps: RouterDeps, query: QueryEngine | undefined, anomalyModels?: AnomalyModelServices, alerts?: AlertServices): Router {
  const router = new Router(deps);
  router.add(...authRoutes(services), ...userRoutes(services), ...deviceRoutes(services), ...ruleAndConnectorRoutes(services), ...auditAndStatusRoutes(services));
  if (query) router.add(...queryRoutes(query));
  if (anomalyModels) router.add(...anomalyRoutes(anomalyModels));
  if (alerts) router.add(...alertRoutes(alerts));
  let doc: unknown;
  router.add(
    route({
      method: 'get', path: '/api/openapi.json', operationId: 'openapi', tag: 'meta', access: 'public',
      summary: 'This API described as OpenAPI 3.1.', response: z.record(z.string(), z.unknown()),
      handler: async () => (doc ??= openApiDocument(router.routes, { version: API_VERSION })) as Record<string, unknown>,
    }),
  );
  return router;
}
