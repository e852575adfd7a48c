// Structured logs: one JSON object per line on stderr (pino), with `level`,
// `time`, `msg` and whatever the caller binds (`reqId` on every API line,
// `component`...). Configured once at start; modules receive a Logger
// rather than reading settings. The Logger interface is the small part of
// pino the gateway uses, so modules can also be given `silentLogger`.

import { pino, type Logger as PinoLogger } from 'pino';

export type Level = 'error' | 'warn' | 'info' | 'debug';

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  /** The pino logger underneath, for structured fields and child loggers. */
  readonly pino: PinoLogger;
}

function wrap(p: PinoLogger): Logger {
  return {
    pino: p,
    error: (msg) => p.error(msg),
    warn: (msg) => p.warn(msg),
    info: (msg) => p.info(msg),
    debug: (msg) => p.debug(msg),
  };
}

/** `write` receives each JSON line (default: stderr). */
export function createLogger(level: Level, write?: (line: string) => void): Logger {
  const destination = write ? { write } : pino.destination({ fd: 2, sync: true });
  return wrap(
    pino(
      { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
      destination,
    ),
  );
}

export const silentLogger: Logger = wrap(pino({ level: 'silent' }));
