// Every error a client can see: a stable machine-readable code, an HTTP
// status and a message. docs/errors.md documents each code; a test checks it.

import type { z } from 'zod';

export const ErrorCodes = {
  SENTIO_ERR_UNAUTHORIZED: { status: 401, message: 'missing or invalid credentials' },
  SENTIO_ERR_BODY_TOO_LARGE: { status: 413, message: 'request body exceeds the configured limit' },
  SENTIO_ERR_DECOMPRESSED_TOO_LARGE: { status: 413, message: 'decompressed body exceeds the configured limit' },
  SENTIO_ERR_COMPRESSION_RATIO: { status: 413, message: 'compressed body expands beyond the configured ratio' },
  SENTIO_ERR_RATE_LIMITED: { status: 429, message: 'this token writes more samples per second than allowed; retry later' },
  SENTIO_ERR_CARDINALITY_LIMIT: { status: 429, message: 'this token writes more distinct series per minute than allowed' },
  SENTIO_ERR_BAD_ENCODING: { status: 400, message: 'unsupported Content-Encoding or corrupt compressed body' },
  SENTIO_ERR_BAD_PRECISION: { status: 400, message: 'unsupported precision' },
  SENTIO_ERR_BAD_REQUEST: { status: 400, message: 'malformed request' },
  SENTIO_ERR_PARTIAL_WRITE: { status: 400, message: 'some points were rejected; the others were written' },
  SENTIO_ERR_BAD_BATCH: { status: 400, message: 'malformed msgpack batch' },
  SENTIO_ERR_FRAME_TOO_LARGE: { status: 413, message: 'WebSocket frame exceeds the configured limit' },
  SENTIO_ERR_NOT_FOUND: { status: 404, message: 'no such route' },
  SENTIO_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed on this route' },
  SENTIO_ERR_SINK_UNAVAILABLE: { status: 503, message: 'the storage sink did not accept the batch; retry later' },
  SENTIO_ERR_SINK_REJECTED: { status: 400, message: 'the storage sink rejected the batch' },
  SENTIO_ERR_NOT_READY: { status: 503, message: 'the gateway is starting or shutting down' },
  SENTIO_ERR_SLOW_DOWN: { status: 429, message: 'too many WebSocket frames of this connection in flight; resend after an ack arrives' },
  SENTIO_ERR_OVERLOADED: { status: 503, message: 'the gateway holds as many write requests in memory as it may; retry shortly' },
  SENTIO_ERR_QUEUE_FULL: { status: 429, message: 'the durable queue is full; back off and retry' },
  SENTIO_ERR_QUEUE_UNAVAILABLE: { status: 503, message: 'the batch could not be stored durably (disk full or write error); retry later' },
  SENTIO_ERR_FORBIDDEN: { status: 403, message: 'your role does not allow this' },
  SENTIO_ERR_VALIDATION: { status: 400, message: 'the request does not match the schema' },
  SENTIO_ERR_CONFLICT: { status: 409, message: 'a resource with this name already exists' },
  SENTIO_ERR_READ_ONLY: { status: 409, message: 'this resource is defined in the configuration file: change it there' },
  SENTIO_ERR_LOGIN_FAILED: { status: 401, message: 'wrong username or password' },
  SENTIO_ERR_TOKEN_EXPIRED: { status: 401, message: 'the access token has expired; refresh it' },
  SENTIO_ERR_BAD_QUERY: { status: 400, message: 'the query could not be parsed' },
  SENTIO_ERR_UNSUPPORTED_QUERY: { status: 422, message: 'the embedded store does not support this query' },
  SENTIO_ERR_QUERY_FAILED: { status: 502, message: 'the query backend failed' },
  SENTIO_ERR_MODEL_INVALID: { status: 400, message: 'the ONNX model cannot be used: it does not load, or does not fit its declared inputs and output' },
  SENTIO_ERR_MODEL_ACTIVE: { status: 409, message: 'this is the active version of a model with other versions: promote another one first' },
  SENTIO_ERR_PEER_UNAVAILABLE: { status: 502, message: "the connector's server or device could not be reached, or refused the request" },
  SENTIO_ERR_BAD_CHANNEL: { status: 400, message: 'the notification channel settings are invalid' },
  SENTIO_ERR_STORE_UNAVAILABLE: { status: 503, message: 'the metadata store or cache is unavailable' },
  SENTIO_ERR_INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class SentioError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Facts about the failed request that the reply should carry (e.g. the batch's seq). */
  details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    // Refusals for load (429, 503) are answers, not faults, and come in floods (every frame of
    // 10,000 devices while the gateway shuts down): without a stack trace, whose capture was a
    // fifth of the main thread's time then.
    const refusal = ErrorCodes[code].status === 429 || ErrorCodes[code].status === 503;
    const limit = Error.stackTraceLimit;
    if (refusal) Error.stackTraceLimit = 0;
    super(message ?? ErrorCodes[code].message, options);
    Error.stackTraceLimit = limit;
    this.name = 'SentioError';
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.details = options?.details;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Any thrown value as a SentioError (unknown failures become SENTIO_ERR_INTERNAL). */
export function asSentioError(err: unknown): SentioError {
  if (err instanceof SentioError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SentioError('SENTIO_ERR_INTERNAL', message, { cause: err });
}

/**
 * A reason the gateway cannot start that the operator can act on (the port
 * is taken, a file cannot be read, the data directory is in use). Never
 * seen by clients: `sentio start` prints its message as one line, without a
 * stack trace, and exits with code 1.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/**
 * SENTIO_ERR_VALIDATION for what a zod schema refused: each problem named
 * by its path under `where` (`body.config.url`), in `details.issues`.
 */
export function validationError(where: string, error: z.ZodError): SentioError {
  const issues = error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  return new SentioError('SENTIO_ERR_VALIDATION', `${issues[0]!.path}: ${issues[0]!.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, { details: { issues } });
}
