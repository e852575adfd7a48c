import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { certificateManager, ownCertificateFile, pkiDir } from './pki.js';
import { listCertificates, ownCertificate, trustCertificate, untrustCertificate } from './trust.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

test('a rejected server certificate is listed, trusted and untrusted by thumbprint; bad and unknown thumbprints are refused', async () => {
  // A "server" certificate: another PKI's own one, put where node-opcua puts a certificate it rejects.
  const server = await mkdtemp(join(tmpdir(), 'sentio-opcua-server-'));
  const dataDir = await mkdtemp(join(tmpdir(), 'sentio-opcua-trust-'));
  dirs.push(server, dataDir);
  await (await certificateManager(server)).dispose();
  await (await certificateManager(dataDir)).dispose();
  await mkdir(join(pkiDir(dataDir), 'rejected'), { recursive: true });
  await copyFile(ownCertificateFile(server), join(pkiDir(dataDir), 'rejected', 'server.pem'));
  const serverTp = (await ownCertificate(server))!.thumbprint;

  const [seen] = await listCertificates(dataDir);
  assert.equal(seen!.thumbprint, serverTp);
  assert.equal(seen!.state, 'rejected');
  assert.match(seen!.subject, /CN=Sentio@/);
  assert.match(seen!.applicationUri ?? '', /^urn:.*:Sentio$/);

  assert.equal((await trustCertificate(dataDir, serverTp.toUpperCase())).state, 'trusted');
  assert.deepEqual(await readdir(join(pkiDir(dataDir), 'rejected')), []);
  assert.deepEqual((await listCertificates(dataDir)).map((c) => [c.thumbprint, c.state]), [[serverTp, 'trusted']]);
  assert.equal((await trustCertificate(dataDir, serverTp)).state, 'trusted', 'trusting again is no error');
  assert.equal((await untrustCertificate(dataDir, serverTp)).state, 'rejected');
  assert.deepEqual((await listCertificates(dataDir)).map((c) => c.state), ['rejected']);

  await assert.rejects(trustCertificate(dataDir, 'abc'), { code: 'SENTIO_ERR_VALIDATION' });
  await assert.rejects(trustCertificate(dataDir, '0'.repeat(40)), { code: 'SENTIO_ERR_NOT_FOUND', message: /no rejected certificate with thumbprint 0{40}/ });
  assert.match((await ownCertificate(dataDir))!.pem, /BEGIN CERTIFICATE/);
});
