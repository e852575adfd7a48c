// A connector's health as the list and its page show it (the API's
// `status`, docs/connectors.md#status): the state badge, the last error,
// the errors this dashboard has seen, and the start/stop/delete buttons.

import { createSignal, Show, type JSX } from 'solid-js';
import { del, patch } from '../lib/api';
import { ago, fmtDuration, fmtTime, now } from '../lib/format';
import type { Connector, ConnectorError, ConnectorState } from '../lib/types';

/** How often connectors' health is fetched, on the list and on a connector's page. */
export const CONNECTOR_POLL_MS = 3000;

const stateMeaning: Record<ConnectorState, string> = {
  up: 'connected, reading',
  connecting: 'connecting',
  backoff: 'waiting to reconnect',
  failed: 'refused or cannot start; retries slowly or waits for a change',
  stopped: 'stopped',
};

/** The state as a badge (its word is the state, so colour is never the only cue) and how long it has held. */
export function StateBadge(props: { c: Connector; long?: boolean }): JSX.Element {
  const s = () => props.c.status.state;
  const held = () => fmtDuration((now() - Date.parse(props.c.status.since)) / 1000);
  return (
    <span class="state-cell">
      <span class={`pill cstate-${s()}`} data-testid="connector-state" data-state={s()} title={stateMeaning[s()]}>
        {s()}
      </span>{' '}
      <span class="small muted" title={`since ${fmtTime(props.c.status.since)}`}>
        {props.long ? `${stateMeaning[s()]}, for ${held()}` : `for ${held()}`}
      </span>
    </span>
  );
}

export function LastError(props: { error: ConnectorError | null }): JSX.Element {
  return (
    <Show when={props.error} fallback={<span class="muted">—</span>}>
      {(e) => (
        <span data-testid="connector-last-error">
          <span class="error-text">{e().reason}</span>{' '}
          <span class="muted" title={fmtTime(e().at)}>
            ({ago(e().at)})
          </span>
        </span>
      )}
    </Show>
  );
}

// The API keeps only the last error of a connector; the errors seen by this
// tab since it loaded are kept here, newest first, so the detail page can
// list more than one.
const MAX_SEEN = 20;
const seen = new Map<string, ConnectorError[]>();
const [seenVersion, setSeenVersion] = createSignal(0);

/** Notes the connectors' last errors (called with each answer of the API). */
export function noteErrors(list: readonly Connector[]): void {
  let changed = false;
  for (const c of list) {
    const e = c.status.lastError;
    if (e === null) continue;
    const known = seen.get(c.id) ?? [];
    if (known.some((k) => k.at === e.at && k.reason === e.reason)) continue;
    seen.set(c.id, [e, ...known].slice(0, MAX_SEEN));
    changed = true;
  }
  if (changed) setSeenVersion(seenVersion() + 1);
}

/** The errors of a connector seen by this tab, newest first (reactive). */
export function errorsSeen(id: string): ConnectorError[] {
  seenVersion();
  return seen.get(id) ?? [];
}

/**
 * Start/stop (PATCH enabled) and delete, asked to be confirmed. `act` runs
 * a change through the page's createAction (its error shows on the page).
 */
export function ConnectorActions(props: { c: Connector; busy: boolean; act: (fn: () => Promise<unknown>) => Promise<boolean>; onDeleted?: () => void }): JSX.Element {
  const [confirming, setConfirming] = createSignal(false);
  let cancel: HTMLButtonElement | undefined;
  let deleteButton: HTMLButtonElement | undefined;
  /** Opens or closes the question, keeping the focus on the button that takes its place. */
  const ask = (open: boolean) => {
    setConfirming(open);
    queueMicrotask(() => (open ? cancel : deleteButton)?.focus());
  };
  const url = () => `/api/connectors/${encodeURIComponent(props.c.id)}`;
  return (
    <Show when={props.c.source !== 'file'} fallback={<FileDefined />}>
      <Show
        when={confirming()}
        fallback={
          <span class="actions-line">
            <button
              type="button"
              class="secondary"
              data-testid={props.c.enabled ? 'connector-stop' : 'connector-start'}
              disabled={props.busy}
              aria-label={`${props.c.enabled ? 'Stop' : 'Start'} ${props.c.name}`}
              onClick={() => void props.act(() => patch(url(), { enabled: !props.c.enabled }))}
            >
              {props.c.enabled ? 'Stop' : 'Start'}
            </button>
            <button
              type="button"
              class="danger"
              data-testid="connector-delete"
              aria-label={`Delete ${props.c.name}…`}
              ref={deleteButton}
              onClick={() => ask(true)}
            >
              Delete…
            </button>
          </span>
        }
      >
        <span class="actions-line confirm" role="group" aria-label={`Delete ${props.c.name}?`}>
          <span>Delete “{props.c.name}”? It stops; its data stays in the store.</span>
          <button
            type="button"
            class="danger"
            data-testid="connector-delete-confirm"
            disabled={props.busy}
            onClick={async () => {
              if (await props.act(() => del(url()))) props.onDeleted?.();
              else ask(false);
            }}
          >
            Delete
          </button>
          <button
            type="button"
            class="secondary"
            ref={cancel}
            onClick={() => ask(false)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') ask(false);
            }}
          >
            Cancel
          </button>
        </span>
      </Show>
    </Show>
  );
}

/** A connector of the config file: read-only here (the API refuses changes with SENTIO_ERR_READ_ONLY). */
export function FileDefined(): JSX.Element {
  return (
    <span class="pill" data-testid="connector-file" title="Defined in the gateway's config file: change it there (docs/connectors.md#defined-in-the-config-file)">
      config file
    </span>
  );
}
