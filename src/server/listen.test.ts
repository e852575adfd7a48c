// The listen sockets: a connection storm while the event loop is busy is
// held by the kernel (LISTEN_SOCKETS accept queues), and a port held by
// another process still fails start-up.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import uWS from 'uWebSockets.js';
import { LISTEN_SOCKETS, ListenError, listen } from './index.js';

/** Opens `n` TCP connections to the port on "go" (stdin) and prints how many completed their handshake within `ms`. */
const STORM = `
const net = require('node:net');
const [port, n, ms] = process.argv.slice(1).map(Number);
process.stdout.write('ready\\n');
process.stdin.once('data', () => {
  let connected = 0;
  const sockets = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1', () => connected++);
    s.on('error', () => {});
    sockets.push(s);
  }
  setTimeout(() => {
    process.stdout.write(connected + '\\n');
    for (const s of sockets) s.destroy();
    process.exit(0);
  }, ms);
});
`;

/** Spins for `ms`: this process's event loop accepts nothing meanwhile. */
function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test(`a storm of connections while the event loop is busy: all complete their handshake (${LISTEN_SOCKETS} accept queues of 512)`, async () => {
  const app = uWS.App();
  const server = await listen(app, '127.0.0.1', 0);
  try {
    const storm = 2000; // four times one accept queue
    const child = spawn(process.execPath, ['-e', STORM, String(server.port), String(storm), '800'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    while (!lines.includes('ready')) await once(child.stdout, 'data');
    child.stdin.write('go\n');
    blockFor(1500);
    await once(child, 'exit');
    const connected = Number(lines.at(-1));
    assert.equal(connected, storm, `${connected} of ${storm} connections completed while the loop was blocked (one accept queue holds 513)`);
  } finally {
    server.close();
  }
});

test('a port another process holds fails with ListenError, and the sockets are released on close', async () => {
  const other = createServer().listen(0, '127.0.0.1');
  await once(other, 'listening');
  const port = (other.address() as { port: number }).port;
  await assert.rejects(listen(uWS.App(), '127.0.0.1', port), (err: unknown) => err instanceof ListenError && /in use by another process/.test(err.reason));
  other.close();
  await once(other, 'close');
  const server = await listen(uWS.App(), '127.0.0.1', port);
  assert.equal(server.port, port);
  server.close();
  // Closed: the port can be bound exclusively again.
  const again = createServer().listen(port, '127.0.0.1');
  await once(again, 'listening');
  again.close();
});
