import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, startUsage, loadConfig, settings } from './index.js';

test('defaults: embedded mode on 0.0.0.0:8086 with auth on', () => {
  const { config } = loadConfig([], {});
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8086 });
  assert.equal(config.dataDir, './data');
  assert.deepEqual(config.victoriametrics, []);
  assert.equal(config.noAuth, false);
  assert.ok(config.workers >= 1);
});

test('flags override environment, which overrides the YAML file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentio-config-'));
  try {
    const file = join(dir, 'sentio.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:9000\ndata-dir: /from/file\nvictoriametrics: http://a:8428/api/v1/write\nreplication: 1\nworkers: 3\n');
    const { config, sources } = loadConfig(['--config', file, '--listen', '[::1]:7000', '--victoriametrics', 'http://x:1/api/v1/write', '--victoriametrics', 'http://y:2/api/v1/write'], {
      SENTIO_LISTEN: '127.0.0.1:8000',
      SENTIO_DATA_DIR: '/from/env',
      SENTIO_TOKEN: 'token-one-1, token-two-2',
      SENTIO_REPLICATION: '2',
    });
    assert.deepEqual(config.listen, { host: '::1', port: 7000 });
    assert.equal(config.dataDir, '/from/env');
    assert.deepEqual(config.victoriametrics, ['http://x:1/api/v1/write', 'http://y:2/api/v1/write']);
    assert.deepEqual(config.tokens, ['token-one-1', 'token-two-2']);
    assert.equal(config.replication, 2);
    assert.equal(config.workers, 3);
    assert.equal(sources.listen, 'flag');
    assert.equal(sources['data-dir'], 'env');
    assert.equal(sources.workers, 'file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad value stops start-up with a message naming the key', () => {
  const bad: Array<[string[], Record<string, string>, RegExp]> = [
    [['--listen', 'nowhere'], {}, /listen \(--listen, SENTIO_LISTEN\): expected HOST:PORT/],
    [['--victoriametrics', 'ftp://x/'], {}, /victoriametrics .*expected an http\(s\) URL/],
    [[], { SENTIO_WORKERS: 'many' }, /workers \(--workers, SENTIO_WORKERS\)/],
    [['--victoriametrics', 'http://a/api/v1/write', '--replication', '2'], {}, /replication .*exceeds the 1 VictoriaMetrics URL/],
    [['--token', 'short'], {}, /token .*at least 8 characters/],
    [['--bogus'], {}, /Unknown option '--bogus'/],
    [['--sink', 'tape'], {}, /sink/],
    [['--inline-max-load', '1.5'], {}, /inline-max-load \(--inline-max-load, SENTIO_INLINE_MAX_LOAD\)/],
    [[], { SENTIO_INLINE_MAX_LOAD: 'half' }, /inline-max-load/],
  ];
  for (const [argv, env, message] of bad) {
    assert.throws(() => loadConfig(argv, env), (e: unknown) => e instanceof ConfigError && message.test(e.message), `${argv.join(' ')} ${JSON.stringify(env)}`);
  }
});

test('the YAML file rejects unknown keys and bad documents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentio-config-'));
  try {
    const file = join(dir, 'sentio.yaml');
    writeFileSync(file, 'listne: 1.2.3.4:5\n');
    assert.throws(() => loadConfig(['--config', file], {}), /unknown key "listne"/);
    writeFileSync(file, '- a\n- b\n');
    assert.throws(() => loadConfig(['--config', file], {}), /expected a mapping/);
    assert.throws(() => loadConfig(['--config', join(dir, 'missing.yaml')], {}), /config file .*missing\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fractional numbers from flags and the environment', () => {
  assert.equal(loadConfig([], {}).config.inlineMaxLoad, 0.9);
  assert.equal(loadConfig(['--inline-max-load', '0.25'], {}).config.inlineMaxLoad, 0.25);
  assert.equal(loadConfig([], { SENTIO_INLINE_MAX_LOAD: '.5' }).config.inlineMaxLoad, 0.5);
  assert.equal(loadConfig([], { SENTIO_INLINE_MAX_LOAD: '1' }).config.inlineMaxLoad, 1);
});

test('booleans from the environment', () => {
  assert.equal(loadConfig([], { SENTIO_NO_AUTH: 'true' }).config.noAuth, true);
  assert.equal(loadConfig([], { SENTIO_NO_AUTH: '0' }).config.noAuth, false);
  assert.throws(() => loadConfig([], { SENTIO_NO_AUTH: 'maybe' }), /no-auth/);
});

test('help lists every flag with its environment variable', () => {
  const text = startUsage();
  assert.match(text, /--victoriametrics VALUE\.\.\..*SENTIO_VICTORIAMETRICS/);
  assert.match(text, /--no-auth .*SENTIO_NO_AUTH/);
  assert.match(text, /--listen VALUE .*\(default 0\.0\.0\.0:8086\)/, 'defaults are shown from the schema');
  assert.match(text, /--inline-max-bytes VALUE .*\(default 8192\)/);
});

test('every setting is documented in docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  for (const [name, s] of Object.entries(settings)) {
    if ('flagOnly' in s && s.flagOnly) continue;
    assert.ok(doc.includes(`| \`${name}\` |`), `${name} is missing from docs/configuration.md`);
  }
});
