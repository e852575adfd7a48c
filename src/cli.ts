#!/usr/bin/env node
// `sentio start [options]`: loads the configuration, starts the gateway,
// prints where it listens, the mode and the data directory, and stops
// cleanly on SIGINT/SIGTERM. `sentio queue inspect|verify`: the durable
// queues on disk (src/queue/inspect.ts).

import { join, resolve } from 'node:path';
import { generatedToken } from './auth/index.js';
import { ConfigError, helpText, loadConfig } from './config/index.js';
import { startGateway } from './gateway.js';
import { createLogger } from './log/index.js';
import { queueCommand } from './queue/inspect.js';

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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${helpText()}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === 'queue') {
    return queueCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
  }
  if (command !== 'start') {
    process.stderr.write(`sentio: unknown command "${command}"\n\n${helpText()}\n`);
    return 2;
  }
  let loaded;
  try {
    loaded = loadConfig(rest, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sentio: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (loaded.help) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
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

  const gateway = await startGateway(config, log, tokens);
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const c = config.control;
  const admin = gateway.control.admin;
  process.stdout.write(
    [
      `sentio listening on ${gateway.scheme}://${host}:${gateway.port} (HTTP /write, /api/v2/write; WebSocket /ws, /live; REST /api; /healthz, /metrics)`,
      gateway.dashboard ? `dashboard: ${gateway.scheme}://${host}:${gateway.port}/` : 'dashboard: not built (npm run build:web)',
      `mode: ${gateway.mode}`,
      `data directory: ${resolve(config.dataDir)}`,
      `metadata: ${c.postgres !== undefined ? `PostgreSQL ${redact(c.postgres)}` : `PGlite under ${join(resolve(config.dataDir), 'meta')}`}; cache: ${c.redis !== undefined ? `Redis ${redact(c.redis)}` : 'in memory'}`,
      ...(admin.generatedPassword !== undefined
        ? [`first start: created the user "admin" with the password ${admin.generatedPassword}`, '  (shown only now; log in at POST /api/auth/login and change it with PUT /api/auth/password)']
        : admin.created
          ? ['first start: created the user "admin" with the configured --admin-password']
          : []),
      `ingest auth: ${tokenNote}; device tokens issued through the API`,
      ...gateway.warnings.map((w) => `WARNING: ${w}`),
      `parser workers: ${config.workers} (batches <= ${config.inlineMaxBytes} bytes parsed inline, larger ones too while main-thread load < ${config.inlineMaxLoad})`,
      '',
    ].join('\n'),
  );

  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      log.info(`${signal} received, shutting down`);
      done();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await gateway.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sentio: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
