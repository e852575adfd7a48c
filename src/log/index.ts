// A small leveled logger writing one line per event to stderr. Configured
// once at start; modules receive a Logger rather than reading settings.

export type Level = 'error' | 'warn' | 'info' | 'debug';
const order: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

export function createLogger(level: Level, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const max = order[level];
  const at = (l: Level) =>
    function log(msg: string): void {
      if (order[l] <= max) write(`${new Date().toISOString()} ${l.padEnd(5)} ${msg}\n`);
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
