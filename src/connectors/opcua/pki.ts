// Sentio's OPC-UA certificates, kept in <dataDir>/opcua/pki (node-opcua's
// PKI layout: own/certs and own/private for Sentio's application
// certificate, trusted/certs for the server certificates trusted, rejected
// for those seen and not trusted).
//
// - One application certificate for every OPC-UA connector and browse of
//   the gateway, self-signed, made on first use and kept: a server trusts
//   it once.
// - Server certificates are never accepted on first sight
//   (automaticallyAcceptUnknownCertificate false): an unknown one lands in
//   rejected/ and is trusted through ./trust.ts.
// - Each session gets a certificate manager of its own (node-opcua disposes
//   it with the client), so a trust given meanwhile is read at the next one.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';

export const APPLICATION_NAME = 'Sentio';

export function pkiDir(dataDir: string): string {
  return join(dataDir, 'opcua', 'pki');
}

/** Sentio's application certificate (PEM). */
export function ownCertificateFile(dataDir: string): string {
  return join(pkiDir(dataDir), 'own', 'certs', 'client_certificate.pem');
}

/** The application URI in Sentio's certificate: servers check that the client's matches it. */
export function applicationUri(): string {
  return `urn:${hostname()}:${APPLICATION_NAME}`;
}

/** A certificate's thumbprint as OPC-UA tools show it: the SHA-1 of its DER, in lower-case hex. */
export function thumbprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex');
}

/** A certificate manager over the PKI folder, initialized; Sentio's certificate made when missing. */
export async function certificateManager(dataDir: string): Promise<OPCUACertificateManager> {
  const cm = new OPCUACertificateManager({ rootFolder: pkiDir(dataDir), automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  await cm.initialize();
  const file = ownCertificateFile(dataDir);
  if (!existsSync(file)) {
    await cm.createSelfSignedCertificate({
      applicationUri: applicationUri(),
      dns: [hostname()],
      subject: `/CN=${APPLICATION_NAME}@${hostname()}/O=Sentio`,
      startDate: new Date(),
      validity: 3650,
      outputFile: file,
    });
  }
  return cm;
}
