#!/usr/bin/env -S node --initial-old-space-size=128
// `sentio start [options]`: loads the configuration, starts the gateway,
// prints where it listens, the mode and the data directory, and stops
// cleanly on SIGINT/SIGTERM. `sentio queue inspect|verify`: the durable
// queues on disk (src/queue/inspect.ts). `sentio anomaly replay`: a series'
// history scored as the live anomaly engine would (src/anomaly/replay.ts).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generatedToken } from './auth/index.js';
import { ConfigError, loadConfig, startUsage } from './config/index.js';
import { StartupError } from './errors.js';
import { type Gateway, startGateway } from './gateway.js';
import { heapNote } from './heap.js';
import { createLogger } from './log/index.js';
import { queueCommand } from './queue/inspect.js';
import { anomalyCommand } from './anomaly/replay.js';

/** A URL without its password, for the banner. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** The package's version, from its package.json (one level above src/ and dist/ alike). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const usage = [
  'Usage: sentio <command> [options]',
  '',
  'Commands:',
  '  start           run the gateway                          (sentio start --help: every option)',
  '  queue inspect   the durable queues on disk               (sentio queue --help)',
  '  queue verify    the same, exit code 1 when damage is found',
  '  anomaly replay  score a CSV of timestamp,value rows as the anomaly engine would (sentio anomaly --help)',
  '  version         print the version (also --version, -v)',
  '  help            print this help (also --help, -h)',
].join('\n');

/** Beyond the grace period, what the final close (fsyncs, files, the store) may take before the process exits regardless. */
const SHUTDOWN_SLACK_MS = 900;

const isHelp = (a: string | undefined): boolean => a === '--help' || a === '-h' || a === 'help';

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  if (isHelp(command)) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`sentio ${version()}\n`);
    return 0;
  }
  if (command === 'queue') {
    return queueCommand(rest, env, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
  }
  if (command === 'anomaly') {
    return anomalyCommand(rest, process.stdin, process.stdout, (s) => process.stderr.write(s));
  }
  if (command !== 'start') {
    process.stderr.write(`sentio: unknown command "${command}"\n\n${usage}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${startUsage()}\n`);
    return 0;
  }
  let loaded;
  try {
    loaded = loadConfig(rest, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sentio: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { config } = loaded;
  const log = createLogger(config.logLevel);

  let tokens = config.tokens;
  let tokenNote = `${tokens.length} configured token(s)`;
  if (config.noAuth) tokenNote = 'DISABLED (--no-auth): anyone who can reach the port can write';
  else if (tokens.length === 0) {
    const g = generatedToken(resolve(config.dataDir));
    tokens = [g.token];
    tokenNote = `${g.created ? 'generated' : 'stored'} token ${g.token} (from ${g.path}; set --token to choose your own)`;
  }

  // A handler's promise nobody awaited must not end the process: logged and counted (src/server/guard.ts catches synchronous throws).
  let gateway: Gateway | undefined;
  process.on('unhandledRejection', (reason) => {
    gateway?.metrics.unhandledRejection();
    log.pino.error({ err: reason }, 'unhandled promise rejection (logged; the gateway keeps running)');
  });
  try {
    gateway = await startGateway(config, log, tokens);
  } catch (err) {
    if (err instanceof StartupError) {
      process.stderr.write(`sentio: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const c = config.control;
  const admin = gateway.control.admin;
  process.stdout.write(
    [
      `sentio listening on ${gateway.scheme}://${host}:${gateway.port} (HTTP /write, /api/v2/write; WebSocket /ws, /live; REST /api; /healthz, /readyz, /metrics)`,
      gateway.dashboard ? `dashboard: ${gateway.scheme}://${host}:${gateway.port}/` : 'dashboard: not built (npm run build:web)',
      `sinks:\n  ${gateway.mode.replace(/\n/g, '\n  ')}`,
      `data directory: ${resolve(config.dataDir)}`,
      `metadata: ${c.postgres !== undefined ? `PostgreSQL ${redact(c.postgres)}` : `PGlite under ${join(resolve(config.dataDir), 'meta')}`}; cache: ${c.redis !== undefined ? `Redis ${redact(c.redis)}` : 'in memory'}`,
      ...(admin.generatedPassword !== undefined
        ? [`first start: created the user "admin" with the password ${admin.generatedPassword}`, '  (shown only now; log in at POST /api/auth/login and change it with PUT /api/auth/password)']
        : admin.created
          ? ['first start: created the user "admin" with the configured --admin-password']
          : []),
      `ingest auth: ${tokenNote}; device tokens issued through the API`,
      ...gateway.warnings.map((w) => `WARNING: ${w}`),
      heapNote(process.execArgv, env.NODE_OPTIONS),
      `parser workers: ${config.workers} (batches <= ${config.inlineMaxBytes} bytes parsed inline, larger ones too while main-thread load < ${config.inlineMaxLoad})`,
      '',
    ].join('\n'),
  );

  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      log.info(`${signal} received, shutting down (--shutdown-grace-ms ${config.shutdownGraceMs})`);
      // A second signal, or a shutdown that overruns its grace period, ends the process at once: what is queued stays on disk.
      const now = (why: string) => {
        log.error(`${why}: exiting now`);
        process.exit(1);
      };
      process.once('SIGINT', () => now('second signal'));
      process.once('SIGTERM', () => now('second signal'));
      setTimeout(() => now(`shutdown took longer than --shutdown-grace-ms ${config.shutdownGraceMs} plus ${SHUTDOWN_SLACK_MS} ms`), config.shutdownGraceMs + SHUTDOWN_SLACK_MS).unref();
      done();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await gateway.close();
  return 0;
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sentio: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
