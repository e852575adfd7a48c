// Connectors (operator and above: their settings name hosts and users):
// the list with each one's health (GET /api/connectors every 3 s), start,
// stop and delete, and the form that creates one. Each connector's page
// (./ConnectorPage.tsx) has its details, its errors and the edit form.

import { A } from '@solidjs/router';
import { createSignal, For, Show, type JSX } from 'solid-js';
import { NotAllowed } from '../components/Shell';
import { Empty, ErrorBanner } from '../components/ui';
import { ConnectorForm } from '../connectors/form';
import { kindLabel } from '../connectors/kinds';
import { StaleSummary } from '../connectors/staleness';
import { CONNECTOR_POLL_MS, ConnectorActions, LastError, noteErrors, StateBadge } from '../connectors/status';
import { createAction } from '../lib/action';
import { get, roleAtLeast } from '../lib/api';
import { ago, fmtCount, fmtNum, fmtTime } from '../lib/format';
import { createPolledList } from '../lib/poll';
import type { Connector, Items } from '../lib/types';

export async function fetchConnectors(): Promise<Connector[]> {
  const items = (await get<Items<Connector>>('/api/connectors')).items;
  noteErrors(items);
  return items;
}

/** Where a connector connects to, by its kind's setting: a URL, an OPC-UA endpoint, a Modbus host. */
function address(c: Connector): string | undefined {
  const v = c.config.url ?? c.config.endpoint ?? c.config.host;
  return typeof v === 'string' ? v : undefined;
}

export default function Connectors(): JSX.Element {
  return (
    <Show when={roleAtLeast('operator')} fallback={<NotAllowed role="operator" />}>
      <ConnectorList />
    </Show>
  );
}

function ConnectorList(): JSX.Element {
  const connectors = createPolledList(fetchConnectors, CONNECTOR_POLL_MS);
  const { busy, error, act } = createAction(() => connectors.refetch());
  const [creating, setCreating] = createSignal(false);
  const [message, setMessage] = createSignal<string | null>(null);
  const list = () => [...connectors.items()].sort((a, b) => a.name.localeCompare(b.name));
  let newButton: HTMLButtonElement | undefined;

  return (
    <section>
      <div class="page-head">
        <h1>Connectors</h1>
        <button
          type="button"
          ref={newButton}
          data-testid="connector-new"
          aria-expanded={creating()}
          aria-controls="connector-create"
          onClick={() => {
            setMessage(null);
            setCreating(!creating());
          }}
        >
          {creating() ? 'Close the form' : 'New connector'}
        </button>
      </div>
      <p class="small muted">Connectors subscribe to brokers and hubs (MQTT, Home Assistant) or read devices and servers (Modbus TCP, OPC UA) and write what they read through the same pipeline as every device.</p>
      <Show when={creating()}>
        <div class="card" id="connector-create">
          <h2>New connector</h2>
          <ConnectorForm
            onSaved={(c) => {
              setCreating(false);
              setMessage(`Connector “${c.name}” created${c.enabled ? ' and started' : ''}.`);
              void connectors.refetch();
              newButton?.focus();
            }}
            onCancel={() => {
              setCreating(false);
              newButton?.focus();
            }}
          />
        </div>
      </Show>
      <Show when={message()}>
        <p role="status" class="ok-text" data-testid="connector-message">
          {message()}
        </p>
      </Show>
      <ErrorBanner error={error()} testid="connector-action-error" />
      <div class="card">
        <h2>All connectors</h2>
        <ErrorBanner error={connectors.error()} />
        <Show when={list().length > 0} fallback={<Empty>{connectors.loaded() ? 'No connectors yet.' : 'Loading…'}</Empty>}>
          <div class="table-wrap">
            <table class="reflow connectors">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">State</th>
                  <th scope="col">Last success</th>
                  <th scope="col">Readings/s</th>
                  <th scope="col">Dropped</th>
                  <th scope="col">Unparseable</th>
                  <th scope="col">Stale</th>
                  <th scope="col">Last error</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                <For each={list()}>
                  {(c) => (
                    <tr data-testid="connector-row" data-name={c.name} data-id={c.id} data-state={c.status.state}>
                      <td data-label="Name">
                        <A href={`/connectors/${encodeURIComponent(c.id)}`}>{c.name}</A>
                        <Show when={address(c)}>
                          <div class="small muted mono">{address(c)}</div>
                        </Show>
                      </td>
                      <td data-label="Kind">{kindLabel(c.kind)}</td>
                      <td data-label="State">
                        <StateBadge c={c} />
                      </td>
                      <td data-label="Last success" title={fmtTime(c.status.lastSuccessAt)}>
                        {ago(c.status.lastSuccessAt)}
                      </td>
                      <td data-label="Readings/s" class="num" data-testid="connector-rate" data-value={c.status.readingsPerSecond}>
                        {fmtNum(c.status.readingsPerSecond)}
                      </td>
                      <td data-label="Dropped" class="num" classList={{ 'warn-text': c.status.droppedTotal > 0 }}>
                        {fmtCount(c.status.droppedTotal)}
                      </td>
                      <td data-label="Unparseable" class="num" classList={{ 'warn-text': c.status.unparseableTotal > 0 }}>
                        {fmtCount(c.status.unparseableTotal)}
                      </td>
                      <td data-label="Stale">
                        <StaleSummary c={c} />
                      </td>
                      <td data-label="Last error" class="small details">
                        <LastError error={c.status.lastError} />
                      </td>
                      <td class="actions" data-label="Actions">
                        <ConnectorActions c={c} busy={busy()} act={act} onDeleted={() => setMessage(`Connector “${c.name}” deleted.`)} />
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </Show>
      </div>
    </section>
  );
}
