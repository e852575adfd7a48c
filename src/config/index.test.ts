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
  assert.deepEqual(config.sinks, [{ name: 'embedded', type: 'embedded' }]);
  assert.equal(config.routes, undefined);
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
    assert.deepEqual(config.sinks, [{ name: 'victoriametrics', type: 'victoriametrics', urls: ['http://x:1/api/v1/write', 'http://y:2/api/v1/write'], replication: 2 }]);
    assert.deepEqual(config.tokens, ['token-one-1', 'token-two-2']);
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

test('sinks: the YAML list, --victoriametrics and --embedded together; routes with selectors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentio-config-'));
  try {
    const file = join(dir, 'sentio.yaml');
    writeFileSync(
      file,
      [
        'sinks:',
        '  - name: longterm',
        '    type: victoriametrics',
        '    urls: [http://a:8428/api/v1/write, http://b:8428/api/v1/write]',
        '    replication: 2',
        'routes:',
        '  - sinks: [longterm]',
        '  - sinks: embedded',
        '    signals: [metrics]',
        `    match: '{site="plant-7", room=~"k.*"}'`,
        '',
      ].join('\n'),
    );
    const { config } = loadConfig(['--config', file, '--victoriametrics', 'http://c:8428/api/v1/write', '--embedded'], {});
    assert.deepEqual(
      config.sinks.map((s) => [s.name, s.type]),
      [['longterm', 'victoriametrics'], ['victoriametrics', 'victoriametrics'], ['embedded', 'embedded']],
    );
    assert.deepEqual(config.sinks[0], { name: 'longterm', type: 'victoriametrics', urls: ['http://a:8428/api/v1/write', 'http://b:8428/api/v1/write'], replication: 2 });
    assert.deepEqual(config.routes, [
      { sinks: ['longterm'], signals: undefined, match: [], selector: undefined },
      {
        sinks: ['embedded'],
        signals: ['metrics'],
        match: [
          { name: 'site', op: '=', value: 'plant-7' },
          { name: 'room', op: '=~', value: 'k.*' },
        ],
        selector: '{site="plant-7", room=~"k.*"}',
      },
    ]);
    // Without --embedded a remote sink stands alone; the environment takes YAML text.
    const env = loadConfig([], { SENTIO_SINKS: '[{type: victoriametrics, urls: "http://a:8428/api/v1/write"}]' }).config;
    assert.deepEqual(env.sinks, [{ name: 'victoriametrics', type: 'victoriametrics', urls: ['http://a:8428/api/v1/write'], replication: 1 }]);
    assert.deepEqual(loadConfig(['--sink', 'blackhole'], {}).config.sinks, [{ name: 'blackhole', type: 'blackhole' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad sinks and routes are refused with the key and what is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentio-config-'));
  const file = join(dir, 'sentio.yaml');
  const bad: Array<[string, string[], RegExp]> = [
    ['sinks: [{type: tape}]', [], /sinks\[0\]\.type .*(victoriametrics|Invalid)/],
    ['sinks: [{type: victoriametrics}]', [], /sinks\[0\]\.urls/],
    ['sinks: [{type: victoriametrics, urls: [http://a/w], replication: 2}]', [], /sinks\[0\]\.replication .*exceeds the 1 URL/],
    ['sinks: [{name: vm, type: victoriametrics, urls: [http://a/w]}, {name: vm, type: embedded}]', [], /sinks\[1\]\.name .*two sinks are named "vm"/],
    ['sinks: [{name: Big, type: embedded}]', [], /sinks\[0\]\.name .*lowercase/],
    ['sinks: [{name: a, type: embedded}, {name: b, type: embedded}]', [], /at most one sink of type embedded/],
    ['routes: [{sinks: [nope]}]', [], /routes\[0\]\.sinks .*no sink is named "nope" \(sinks: embedded\)/],
    ["routes: [{sinks: [embedded], match: 'site='}]", [], /routes\[0\]\.match .*not a series selector/],
    ["routes: [{sinks: [embedded], match: '{site=~\"(\"}'}]", [], /routes\[0\]\.match/],
    ['routes: [{sinks: [embedded], signals: [smells]}]', [], /routes\[0\]\.signals/],
    ['routes: []', [], /routes .*at least one rule/],
    ['sinks: [{type: victoriametrics, urls: [http://a/w]}]', ['--sink', 'blackhole'], /sink .*blackhole .*stands alone.*victoriametrics/],
  ];
  try {
    for (const [yaml, argv, message] of bad) {
      writeFileSync(file, `${yaml}\n`);
      assert.throws(() => loadConfig(['--config', file, ...argv], {}), (e: unknown) => e instanceof ConfigError && message.test(e.message), `${yaml}: ${(() => { try { loadConfig(['--config', file, ...argv], {}); return 'accepted'; } catch (e) { return (e as Error).message; } })()}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
