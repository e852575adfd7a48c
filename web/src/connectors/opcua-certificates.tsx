// The OPC-UA server certificates the gateway has seen
// (GET /api/opcua/certificates), each trusted or rejected, with a button
// to trust or untrust it (POST /api/opcua/certificates/{thumbprint}/trust,
// /untrust). Trust is the gateway's, for every connector to that server
// (docs/connectors.md#certificates-and-trust): a server certificate is
// rejected on first sight, so a secure connector's first connection fails
// and its certificate appears here.

import { createResource, For, Show, type JSX } from 'solid-js';
import { ErrorBanner } from '../components/ui';
import { createAction } from '../lib/action';
import { get, post } from '../lib/api';
import { fmtTime } from '../lib/format';
import type { Items, OpcuaCertificate } from '../lib/types';

export function OpcuaCertificates(): JSX.Element {
  const [certs, { refetch }] = createResource(async () => (await get<Items<OpcuaCertificate>>('/api/opcua/certificates')).items);
  const { busy, error, act } = createAction(async () => refetch());
  const setTrust = (c: OpcuaCertificate, trust: boolean) => act(() => post(`/api/opcua/certificates/${encodeURIComponent(c.thumbprint)}/${trust ? 'trust' : 'untrust'}`));
  const name = (c: OpcuaCertificate) => c.applicationUri ?? c.subject;
  return (
    <section class="certificates" aria-labelledby="opcua-certificates-title" data-testid="opcua-certificates">
      <h3 id="opcua-certificates-title">Server certificates</h3>
      <p class="small muted">
        With Sign or Sign and encrypt, a server's certificate must be trusted. One never seen is rejected at the first connection (the connector fails, naming its thumbprint) and listed here: check its thumbprint with the server's operator, then trust it. Trust applies to every connector of this gateway.
      </p>
      <ErrorBanner error={certs.error} />
      <ErrorBanner error={error()} testid="opcua-certificate-error" />
      <Show when={certs.latest}>
        {(list) => (
          <Show when={list().length > 0} fallback={<p class="small muted" data-testid="opcua-certificates-none">No server certificate seen yet.</p>}>
            <div class="table-wrap">
              <table class="mini reflow">
                <thead>
                  <tr>
                    <th scope="col">Server</th>
                    <th scope="col">Thumbprint (SHA-1)</th>
                    <th scope="col">Valid</th>
                    <th scope="col">State</th>
                    <th scope="col">Action</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={list()}>
                    {(c) => (
                      <tr data-testid="opcua-certificate" data-thumbprint={c.thumbprint} data-state={c.state}>
                        <td data-label="Server">
                          <div>{c.subject}</div>
                          <Show when={c.applicationUri}>
                            <div class="small muted mono">{c.applicationUri}</div>
                          </Show>
                        </td>
                        <td data-label="Thumbprint" class="mono small details">
                          {c.thumbprint}
                        </td>
                        <td data-label="Valid" class="small">
                          {fmtTime(c.notBefore)} – {fmtTime(c.notAfter)}
                        </td>
                        <td data-label="State">
                          <span class={`pill ${c.state === 'trusted' ? 'ok' : 'bad'}`}>{c.state}</span>
                        </td>
                        <td data-label="Action">
                          <button
                            type="button"
                            class="secondary"
                            data-testid={c.state === 'trusted' ? 'opcua-certificate-untrust' : 'opcua-certificate-trust'}
                            disabled={busy()}
                            aria-label={`${c.state === 'trusted' ? 'Untrust' : 'Trust'} the certificate of ${name(c)}`}
                            onClick={() => void setTrust(c, c.state !== 'trusted')}
                          >
                            {c.state === 'trusted' ? 'Untrust' : 'Trust'}
                          </button>
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
          </Show>
        )}
      </Show>
      <button type="button" class="secondary" data-testid="opcua-certificates-refresh" disabled={certs.loading} onClick={() => void refetch()}>
        Refresh the list
      </button>
    </section>
  );
}
