// TLS: with --tls-cert/--tls-key the listen port serves HTTPS and WSS (and
// nothing in clear), checked with a certificate made by the test. Without
// TLS on a non-loopback address, start-up warns. And the OpenAPI document:
// every route the server answers under /api is in it, and it is
// well-formed OpenAPI 3.1.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import WebSocket from 'ws';
import { ADMIN_PASSWORD, startTestGateway, TOKEN, type TestGateway } from './helpers.js';

describe('TLS', () => {
  let dir: string;
  let gw: TestGateway;
  let ca: Buffer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sentio-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    ca = execFileSync('cat', [cert]);
    gw = await startTestGateway(['--tls-cert', cert, '--tls-key', key]);
  });
  after(async () => {
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('HTTPS serves writes and the API; WSS takes frames; plain HTTP on the port gets nothing', async () => {
    assert.equal(gw.gateway.scheme, 'https');
    const https = `https://127.0.0.1:${gw.gateway.port}`;
    const dispatcher = new Agent({ connect: { ca } });
    const w = await undiciFetch(`${https}/write`, { method: 'POST', headers: { authorization: `Token ${TOKEN}` }, body: 'tls,host=a v=1', dispatcher });
    assert.equal(w.status, 204);
    const l = await undiciFetch(`${https}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }), dispatcher });
    assert.equal(l.status, 200);
    // The certificate is checked: without our CA the client refuses it.
    await assert.rejects(undiciFetch(`${https}/healthz`, { dispatcher: new Agent() }));

    const ws = new WebSocket(`wss://127.0.0.1:${gw.gateway.port}/ws?token=${TOKEN}`, { ca });
    const reply = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once('open', () => ws.send('tls,host=b v=2'));
      ws.once('message', (d) => resolve(JSON.parse(d.toString()) as { type: string }));
      ws.once('error', reject);
    });
    assert.equal(reply.type, 'ack');
    ws.close();

    await assert.rejects(fetch(`http://127.0.0.1:${gw.gateway.port}/healthz`, { signal: AbortSignal.timeout(5000) }));
  });

  test('a missing certificate file stops start-up with a message naming it', async () => {
    await assert.rejects(startTestGateway(['--tls-cert', join(dir, 'nope.pem'), '--tls-key', join(dir, 'key.pem')]), /TLS certificate \(--tls-cert\) .*nope\.pem cannot be read/);
  });
});

test('listening beyond loopback without TLS warns at start; on loopback it does not', async () => {
  const open = await startTestGateway(['--listen', '0.0.0.0:0']);
  const local = await startTestGateway();
  try {
    assert.equal(open.gateway.warnings.length, 1);
    assert.match(open.gateway.warnings[0]!, /without TLS/);
    assert.deepEqual(local.gateway.warnings, []);
  } finally {
    await Promise.all([open.close(), local.close()]);
  }
});

describe('OpenAPI document', () => {
  let gw: TestGateway;
  let doc: { openapi: string; paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>; components: { schemas: Record<string, unknown> } };
  before(async () => {
    gw = await startTestGateway();
    doc = (await (await fetch(`${gw.url}/api/openapi.json`)).json()) as typeof doc;
  });
  after(() => gw.close());

  test('every route the router registers is in the document, and only those', () => {
    const registered = gw.gateway.apiRoutes.map((r) => `${r.method} ${r.path}`).sort();
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)).sort();
    assert.deepEqual(documented, registered);
    for (const expected of ['post /api/auth/login', 'post /api/devices', 'post /api/devices/{id}/tokens', 'get /api/devices/{id}/tokens', 'delete /api/devices/{id}/tokens/{tokenId}', 'get /api/query/range', 'get /api/query/instant', 'get /api/openapi.json', 'get /api/audit', 'get /api/users', 'get /api/alert-rules', 'get /api/connectors']) {
      assert.ok(registered.includes(expected), expected);
    }
  });

  test('every documented path and method is answered by the server (not 404), and an undocumented one is 404', async () => {
    const id = '00000000-0000-4000-8000-000000000001';
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const res = await fetch(`${gw.url}${path.replace(/\{[^}]+\}/g, (m) => (m === '{name}' ? 'job' : id))}`, { method: method.toUpperCase() });
        const body = await res.text();
        // A 404 of the route itself ("no device ...") is fine; the server's catch-all ("no route ...") is not.
        assert.ok(!(res.status === 404 && body.includes('"no route ')), `${method} ${path} is not served: ${body}`);
        assert.notEqual(res.status, 405, `${method} ${path}`);
      }
    }
    const missing = await fetch(`${gw.url}/api/nothing-here`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });

  test('the document is OpenAPI 3.1: unique operation ids, responses everywhere, every $ref resolves', () => {
    assert.equal(doc.openapi, '3.1.0');
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    assert.equal(new Set(ids).size, ids.length);
    for (const ops of Object.values(doc.paths)) for (const op of Object.values(ops)) assert.ok(Object.keys(op.responses).length >= 2);
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(refs.length > 10);
    for (const r of refs) assert.ok(r in doc.components.schemas, `$ref ${r}`);
  });
});
