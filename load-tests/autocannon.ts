// autocannon ships no types: the part of its callback API the load
// generators use, typed once.

import { createRequire } from 'node:module';

export interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { average: number; p50: number; p90: number; p99: number; max: number };
  requests: { total: number; average: number; sent: number };
}

export interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
  timeout?: number;
  /** Requests per second over all connections. */
  overallRate?: number;
  method?: string;
  headers?: Record<string, string>;
  requests?: Array<{ method?: string; body?: Buffer | string; headers?: Record<string, string> }>;
}

export interface AutocannonInstance {
  on(event: 'response', cb: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
}

export type Autocannon = (opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

export const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
