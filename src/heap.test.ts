import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { NODE_HEAP_FLAG, givenHeapFlag, heapNote } from './heap.js';

const read = (rel: string): string => readFileSync(new URL(`../${rel}`, import.meta.url), 'utf8');

test('every entry point starts node with the heap flag: the bin shebang, npm start, the Docker image', () => {
  assert.equal(read('src/cli.ts').split('\n')[0], `#!/usr/bin/env -S node ${NODE_HEAP_FLAG}`);
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, `node ${NODE_HEAP_FLAG} dist/cli.js start`);
  const entry = read('docker/Dockerfile').split('\n').find((l) => l.startsWith('ENTRYPOINT'));
  assert.equal(entry, `ENTRYPOINT ["node", "${NODE_HEAP_FLAG}", "dist/cli.js", "start"]`);
});

test('the heap flag is found on the command line and in NODE_OPTIONS, in either spelling', () => {
  assert.equal(givenHeapFlag(['--initial-old-space-size=256'], undefined), '--initial-old-space-size=256');
  assert.equal(givenHeapFlag([], '--max-old-space-size=4096 --initial_old_space_size=64'), '--initial_old_space_size=64');
  assert.equal(givenHeapFlag(['--max-old-space-size=4096', '--initial-old-space-sizes=1'], ''), undefined);
  assert.equal(givenHeapFlag([], undefined), undefined);
  assert.equal(heapNote([NODE_HEAP_FLAG], undefined), `node heap: ${NODE_HEAP_FLAG}`);
  assert.match(heapNote([], undefined), /default sizing \(start node with --initial-old-space-size=128/);
});

test('with the heap flag, V8 holds 90 MB of live objects without a full mark-compact; with its default sizing it does not', () => {
  // What the flag is for: no full GC while the old generation is below the
  // initial size. Counted from --trace-gc's own lines, not from timings.
  const retain = 'const keep = []; for (let i = 0; i < 600000; i++) keep.push({ i, s: "x" + i, a: [i, i + 1] }); console.log(keep.length);';
  const markCompacts = (flags: string[]): number => {
    const r = spawnSync(process.execPath, [...flags, '--trace-gc', '-e', retain], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^600000$/m);
    return r.stdout.split('\n').filter((l) => l.includes('Mark-Compact')).length;
  };
  assert.equal(markCompacts([NODE_HEAP_FLAG]), 0);
  assert.ok(markCompacts([]) >= 1, 'node\'s default sizing ran no full GC either: the flag would make no difference here');
});
