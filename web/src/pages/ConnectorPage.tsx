// One connector: its health (GET /api/connectors/{id} every 3 s), the
// errors seen, its devices and series with their learned freshness, its
// settings (secrets only as set / not set) and the edit form, start/stop and
// delete.

import { A, useNavigate, useParams } from '@solidjs/router';
import { createResource, createSignal, For, onCleanup, Show, type JSX } from 'solid-js';
import { NotAllowed } from '../components/Shell';
import { ErrorBanner } from '../components/ui';
import { ConnectorForm } from '../connectors/form';
import { kindLabel } from '../connectors/kinds';
import { Watched } from '../connectors/staleness';
import { CONNECTOR_POLL_MS, ConnectorActions, errorsSeen, LastError, noteErrors, StateBadge } from '../connectors/status';
import { createAction } from '../lib/action';
import { get, roleAtLeast } from '../lib/api';
import { ago, fmtCount, fmtNum, fmtTime } from '../lib/format';
import type { Connector } from '../lib/types';

export default function ConnectorPage(): JSX.Element {
  return (
    <Show when={roleAtLeast('operator')} fallback={<NotAllowed role="operator" />}>
      <ConnectorDetails />
    </Show>
  );
}

function ConnectorDetails(): JSX.Element {
  const params = useParams<{ id: string }>();
  const navigate = useNavigate();
  const url = () => `/api/connectors/${encodeURIComponent(params.id)}`;
  const [connector, { refetch, mutate }] = createResource(url, async (u) => {
    const c = await get<Connector>(u);
    noteErrors([c]);
    return c;
  });
  const timer = setInterval(() => void refetch(), CONNECTOR_POLL_MS);
  onCleanup(() => clearInterval(timer));
  const { busy, error, act } = createAction(async () => refetch());
  const [editing, setEditing] = createSignal(false);
  const [saved, setSaved] = createSignal(false);
  let editButton: HTMLButtonElement | undefined;
  const closeForm = () => {
    setEditing(false);
    queueMicrotask(() => editButton?.focus());
  };

  return (
    <section>
      <p class="small">
        <A href="/connectors">← Connectors</A>
      </p>
      <ErrorBanner error={connector.error} />
      <Show when={connector.latest}>
        {(c) => (
          <>
            <div class="page-head">
              <h1>{c().name}</h1>
              <StateBadge c={c()} long />
              <span class="pill">{kindLabel(c().kind)}</span>
            </div>
            <ErrorBanner error={error()} testid="connector-action-error" />
            <div class="grid">
              <div class="card">
                <h2>Health</h2>
                <dl class="facts" data-testid="connector-health">
                  <dt>Enabled</dt>
                  <dd>{c().enabled ? 'yes' : 'no (stopped)'}</dd>
                  <dt>Since</dt>
                  <dd>{fmtTime(c().status.since)}</dd>
                  <dt>Last success</dt>
                  <dd title={fmtTime(c().status.lastSuccessAt)}>{ago(c().status.lastSuccessAt)}</dd>
                  <dt>Readings/s</dt>
                  <dd>{fmtNum(c().status.readingsPerSecond)}</dd>
                  <dt>Readings</dt>
                  <dd>{fmtCount(c().status.readingsTotal)}</dd>
                  <dt>Messages</dt>
                  <dd>{fmtCount(c().status.messagesTotal)}</dd>
                  <dt>Unparseable</dt>
                  <dd>{fmtCount(c().status.unparseableTotal)}</dd>
                  <dt>Dropped</dt>
                  <dd>{fmtCount(c().status.droppedTotal)}</dd>
                  <dt>Runs on</dt>
                  <dd class="mono">{c().status.instance ?? 'no instance (or not shared: see docs/connectors.md)'}</dd>
                  <dt>Created</dt>
                  <dd>{fmtTime(c().createdAt)}</dd>
                  <dt>Changed</dt>
                  <dd>{fmtTime(c().updatedAt)}</dd>
                </dl>
                <ConnectorActions c={c()} busy={busy()} act={act} onDeleted={() => navigate('/connectors')} />
              </div>
              <div class="card">
                <h2>Errors</h2>
                <p>
                  Last: <LastError error={c().status.lastError} />
                </p>
                <Show when={errorsSeen(c().id).length > 1}>
                  <p class="small muted">The gateway keeps the last error only; these are the ones this page saw since it was loaded, newest first.</p>
                  <ol class="errors" data-testid="connector-errors">
                    <For each={errorsSeen(c().id)}>
                      {(e) => (
                        <li>
                          <span class="error-text">{e.reason}</span> <span class="small muted">{fmtTime(e.at)}</span>
                        </li>
                      )}
                    </For>
                  </ol>
                </Show>
              </div>
            </div>
            <Watched c={c()} />
            <div class="card">
              <h2>Settings</h2>
              <Show
                when={editing()}
                fallback={
                  <>
                    <Show when={saved()}>
                      <p role="status" class="ok-text" data-testid="connector-saved">
                        Saved{c().enabled ? '; the connector restarted with the change' : ''}.
                      </p>
                    </Show>
                    <dl class="facts">
                      <dt>Secrets</dt>
                      <dd data-testid="connector-secrets">{c().secrets.length > 0 ? `${c().secrets.join(', ')}: set (never shown)` : 'none set'}</dd>
                    </dl>
                    <pre class="config" data-testid="connector-config" aria-label="Settings, without secrets">
                      {JSON.stringify(c().config, null, 2)}
                    </pre>
                    <Show when={c().source === 'file'}>
                      <p class="small muted" data-testid="connector-file-note">
                        Defined in the gateway's config file: change it there, and restart a gateway.
                      </p>
                    </Show>
                    <button
                      type="button"
                      class="secondary"
                      hidden={c().source === 'file'}
                      ref={editButton}
                      data-testid="connector-edit"
                      onClick={() => {
                        setSaved(false);
                        setEditing(true);
                      }}
                    >
                      Edit…
                    </button>
                  </>
                }
              >
                <ConnectorForm
                  connector={c()}
                  onSaved={(updated) => {
                    mutate(updated);
                    setSaved(true);
                    closeForm();
                  }}
                  onCancel={closeForm}
                />
              </Show>
            </div>
          </>
        )}
      </Show>
    </section>
  );
}
