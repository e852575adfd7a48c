// Creates a connector (POST /api/connectors) or changes one (PATCH: the
// name and the config, only what changed, so an untouched connector is not
// restarted). The kind's own fields (./kinds.ts) edit the settings they
// know; the rest of the config is JSON ("other settings"). A refused save
// shows each problem beside the input of its path (./issues.ts), those no
// input claims in the summary, and moves the focus to the first bad input.

import { createSignal, For, Show, type JSX } from 'solid-js';
import { Dynamic } from 'solid-js/web';
import { ErrorBanner } from '../components/ui';
import { patch, post } from '../lib/api';
import type { Connector, ConnectorKind } from '../lib/types';
import { CheckField, FormScope, SelectField, TextField } from './fields';
import { createIssueBoard, issuesOf } from './issues';
import { kindForm, kindForms, kindLabel } from './kinds';
import { isObj, without, type Obj } from './values';

const OTHER = 'other-settings';

/** The config keys a kind's fields do not edit, as JSON ('' when none); a kind without fields: all of it. */
function otherText(kind: string, config: Obj | undefined): string {
  const f = kindForm(kind);
  const rest = f === undefined ? (config ?? {}) : without(config ?? {}, f.keys);
  return Object.keys(rest).length === 0 ? '' : JSON.stringify(rest, null, 2);
}

function parseOther(text: string): Obj {
  if (text.trim() === '') return {};
  const v: unknown = JSON.parse(text);
  if (!isObj(v)) throw new Error('a JSON object, such as {"key": "value"}');
  return v;
}

export function ConnectorForm(props: { connector?: Connector; onSaved: (c: Connector) => void; onCancel?: () => void }): JSX.Element {
  const stored = props.connector;
  const [name, setName] = createSignal(stored?.name ?? '');
  const [kind, setKind] = createSignal<ConnectorKind>(stored?.kind ?? 'mqtt');
  const [enabled, setEnabled] = createSignal(true);
  const [other, setOther] = createSignal(otherText(kind(), stored?.config));
  const [error, setError] = createSignal<unknown>(null);
  const [busy, setBusy] = createSignal(false);
  const board = createIssueBoard();
  const idPrefix = stored ? `cf-${stored.id}` : 'cf-new';
  const fields = () => kindForm(kind());
  const otherKeys = () => {
    try {
      return Object.keys(parseOther(other())).map((k) => `config.${k}`);
    } catch {
      return [];
    }
  };

  let collect: () => Obj = () => ({});
  /** The config as first built by the kind's fields: a save that builds the same (and the same JSON) sends no config. */
  let initial = JSON.stringify({});
  const bind = (fn: () => Obj) => {
    collect = fn;
    if (stored) initial = JSON.stringify(fn());
  };
  let formEl!: HTMLFormElement;
  let summaryEl: HTMLDivElement | undefined;

  const focusFirstProblem = () =>
    queueMicrotask(() => {
      const bad = formEl.querySelector<HTMLElement>('input[aria-invalid="true"], select[aria-invalid="true"], textarea[aria-invalid="true"]');
      (bad ?? summaryEl)?.focus();
    });

  const submit = async () => {
    if (busy()) return;
    setError(null);
    board.clear();
    let extra: Obj;
    try {
      extra = parseOther(other());
    } catch (err) {
      board.set([{ path: OTHER, message: `Not valid: ${(err as Error).message}` }]);
      focusFirstProblem();
      return;
    }
    const kindConfig = collect();
    const config = { ...extra, ...kindConfig };
    setBusy(true);
    try {
      if (stored) {
        const body: { name?: string; config?: Obj } = {};
        if (name().trim() !== stored.name) body.name = name().trim();
        if (JSON.stringify(kindConfig) !== initial || other() !== otherText(stored.kind, stored.config)) body.config = config;
        props.onSaved(Object.keys(body).length === 0 ? stored : await patch<Connector>(`/api/connectors/${encodeURIComponent(stored.id)}`, body));
      } else {
        props.onSaved(await post<Connector>('/api/connectors', { name: name().trim(), kind: kind(), config, enabled: enabled() }));
      }
    } catch (err) {
      const issues = issuesOf(err);
      if (issues.length > 0) board.set(issues);
      else setError(err);
      focusFirstProblem();
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      ref={formEl}
      class="connector-form"
      aria-label={stored ? `Edit the connector ${stored.name}` : 'New connector'}
      data-testid="connector-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <FormScope board={board} idPrefix={idPrefix}>
        <div class="row">
          <TextField path="name" label="Name" hint="The label connector=<name> of its samples." required maxlength={128} class="grow" testid="connector-name" value={name()} onInput={setName} />
          <Show
            when={!stored}
            fallback={
              <div class="field">
                <span class="label-like">Kind</span>
                <span class="pill">{kindLabel(kind())}</span>
              </div>
            }
          >
            <SelectField path="kind" label="Kind" testid="connector-kind" options={kindForms.map((k) => ({ value: k.kind, label: kindLabel(k.kind) }))} value={kind()} onChange={setKind} />
            <CheckField path="enabled" label="Start it now" checked={enabled()} onChange={setEnabled} />
          </Show>
        </div>
        <Show when={fields()} keyed fallback={<p class="small muted">No form for {kindLabel(kind())} connectors here: edit its settings as JSON below.</p>}>
          {(f) => <Dynamic component={f.Fields} config={stored?.config} secrets={stored?.secrets ?? []} connectorId={stored?.id} bind={bind} />}
        </Show>
        <details class="other-settings" open={other() !== '' || fields() === undefined}>
          <summary>{fields() ? 'Other settings (JSON)' : 'Settings (JSON)'}</summary>
          <TextField
            path={fields() ? OTHER : 'config'}
            claims={fields() ? otherKeys() : []}
            label={fields() ? 'Settings the form above does not show, as a JSON object' : 'The whole config, as a JSON object'}
            hint="Secrets are never shown; a secret left out is kept, null removes it."
            rows={fields() ? 4 : 10}
            mono
            class="full"
            testid="connector-other"
            value={other()}
            onInput={setOther}
          />
        </details>
        <Show when={board.count() > 0}>
          <div class="error" role="alert" tabindex="-1" ref={summaryEl} data-testid="connector-form-error">
            The connector was not saved: {board.count() === 1 ? 'one problem' : `${board.count()} problems`}
            {board.general().length < board.count() ? ', marked at the fields.' : '.'}
            <Show when={board.general().length > 0}>
              <ul class="issues" data-testid="connector-form-general">
                <For each={board.general()}>{(i) => <li>{i.path ? `${i.path}: ${i.message}` : i.message}</li>}</For>
              </ul>
            </Show>
          </div>
        </Show>
        <ErrorBanner error={error()} testid="connector-form-failure" />
        <div class="row">
          <button type="submit" data-testid="connector-save" disabled={busy()}>
            {busy() ? 'Saving…' : stored ? 'Save' : 'Create connector'}
          </button>
          <Show when={props.onCancel}>
            <button type="button" class="secondary" onClick={() => props.onCancel?.()}>
              Cancel
            </button>
          </Show>
        </div>
      </FormScope>
    </form>
  );
}
