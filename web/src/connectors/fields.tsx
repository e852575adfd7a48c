// The inputs of the connector forms. Each is labelled, claims the config
// path it edits (./issues.ts) and shows that path's problems beside itself,
// tied to the input with aria-invalid and aria-describedby. Its box carries
// `data-field="<path>"`, so a test (or a stylesheet) finds an input and its
// error by the path the API names.

import { createContext, createEffect, For, Index, onCleanup, Show, useContext, type JSX } from 'solid-js';
import { Dynamic } from 'solid-js/web';
import type { IssueBoard } from './issues';
import type { Pair } from './values';

interface Scope {
  board: IssueBoard;
  /** Prefix of element ids: unique per form on the page. */
  idPrefix: string;
}
const ScopeContext = createContext<Scope>();

export function FormScope(props: Scope & { children: JSX.Element }): JSX.Element {
  return <ScopeContext.Provider value={{ board: props.board, idPrefix: props.idPrefix }}>{props.children}</ScopeContext.Provider>;
}

/** Claims `path` (and `also`) while the field is shown; its element ids and problems. */
function useField(path: () => string, also: () => readonly string[] = () => []) {
  const scope = useContext(ScopeContext);
  if (scope === undefined) throw new Error('a connector field outside a FormScope');
  createEffect(() => {
    for (const p of [path(), ...also()]) onCleanup(scope.board.claim(p));
  });
  const id = () => `${scope.idPrefix}-${path().replace(/[^A-Za-z0-9_-]/g, '-')}`;
  const errors = () => [...scope.board.at(path()), ...also().flatMap((p) => scope.board.at(p).map((m) => `${p.replace(/^config\./, '')}: ${m}`))];
  const describedBy = (hint: boolean, more?: string) =>
    [more, hint ? `${id()}-hint` : undefined, errors().length > 0 ? `${id()}-error` : undefined].filter(Boolean).join(' ') || undefined;
  return { id, errors, describedBy };
}

function Messages(props: { id: string; path: string; messages: string[] }): JSX.Element {
  return (
    <Show when={props.messages.length > 0}>
      <p class="field-error" id={props.id} data-testid="field-error" data-path={props.path}>
        {props.messages.join('; ')}
      </p>
    </Show>
  );
}

function Hint(props: { id: string; hint: JSX.Element | undefined }): JSX.Element {
  return (
    <Show when={props.hint}>
      <p class="hint small muted" id={props.id}>
        {props.hint}
      </p>
    </Show>
  );
}

interface Common {
  path: string;
  label: string;
  hint?: JSX.Element;
  /** Extra class of the field's box: grow, narrow, wide-field, full. */
  class?: string;
  testid?: string;
}

export function TextField(
  props: Common & {
    value: string;
    onInput: (v: string) => void;
    type?: 'text' | 'number' | 'url';
    /** A textarea of this many rows. */
    rows?: number;
    placeholder?: string;
    required?: boolean;
    mono?: boolean;
    min?: number;
    max?: number;
    maxlength?: number;
    /** More paths whose problems show here (the config keys a JSON editor holds). */
    claims?: readonly string[];
  },
): JSX.Element {
  const f = useField(
    () => props.path,
    () => props.claims ?? [],
  );
  return (
    <div class={`field ${props.class ?? ''}`} data-field={props.path}>
      <label for={f.id()}>{props.label}</label>
      <Dynamic
        component={props.rows ? 'textarea' : 'input'}
        id={f.id()}
        type={props.rows ? undefined : (props.type ?? 'text')}
        rows={props.rows}
        min={props.min}
        max={props.max}
        data-testid={props.testid}
        class={props.mono ? 'mono' : undefined}
        placeholder={props.placeholder}
        required={props.required}
        maxlength={props.maxlength}
        autocomplete="off"
        spellcheck={false}
        aria-invalid={f.errors().length > 0}
        aria-describedby={f.describedBy(props.hint !== undefined)}
        value={props.value}
        onInput={(e: InputEvent & { currentTarget: HTMLInputElement }) => props.onInput(e.currentTarget.value)}
      />
      <Hint id={`${f.id()}-hint`} hint={props.hint} />
      <Messages id={`${f.id()}-error`} path={props.path} messages={f.errors()} />
    </div>
  );
}

export function SelectField<V extends string>(props: Common & { value: V; options: ReadonlyArray<{ value: V; label: string }>; onChange: (v: V) => void }): JSX.Element {
  const f = useField(() => props.path);
  return (
    <div class={`field ${props.class ?? ''}`} data-field={props.path}>
      <label for={f.id()}>{props.label}</label>
      <select
        id={f.id()}
        data-testid={props.testid}
        value={props.value}
        aria-invalid={f.errors().length > 0}
        aria-describedby={f.describedBy(props.hint !== undefined)}
        onChange={(e) => props.onChange(e.currentTarget.value as V)}
      >
        <For each={props.options}>{(o) => <option value={o.value}>{o.label}</option>}</For>
      </select>
      <Hint id={`${f.id()}-hint`} hint={props.hint} />
      <Messages id={`${f.id()}-error`} path={props.path} messages={f.errors()} />
    </div>
  );
}

export function CheckField(props: Common & { checked: boolean; onChange: (v: boolean) => void }): JSX.Element {
  const f = useField(() => props.path);
  return (
    <div class={`field check ${props.class ?? ''}`} data-field={props.path}>
      <input
        id={f.id()}
        type="checkbox"
        data-testid={props.testid}
        checked={props.checked}
        aria-invalid={f.errors().length > 0}
        aria-describedby={f.describedBy(false)}
        onChange={(e) => props.onChange(e.currentTarget.checked)}
      />
      <label for={f.id()}>{props.label}</label>
      <Messages id={`${f.id()}-error`} path={props.path} messages={f.errors()} />
    </div>
  );
}

/** What the form does with a write-only setting: keep what is stored (or leave it unset), replace it, or remove it. */
export interface SecretDraft {
  mode: 'keep' | 'replace' | 'clear';
  value: string;
}
export const keepSecret = (): SecretDraft => ({ mode: 'keep', value: '' });

/** The value to send for a secret: omitted (kept), the new one, or null (removed). */
export function secretValue(d: SecretDraft): string | null | undefined {
  if (d.mode === 'clear') return null;
  if (d.mode === 'replace' && d.value !== '') return d.value;
  return undefined;
}

/**
 * A write-only setting: whether it is set (never its value, which the API
 * does not return), an input to replace it and, when set, a way to remove
 * it. The input starts empty; empty means "keep".
 */
export function SecretField(props: Common & { isSet: boolean; draft: SecretDraft; onChange: (d: SecretDraft) => void; rows?: number }): JSX.Element {
  const f = useField(() => props.path);
  const stateId = () => `${f.id()}-state`;
  const state = () => {
    const d = props.draft;
    if (props.isSet) {
      if (d.mode === 'clear') return 'It will be removed when saved.';
      if (d.mode === 'replace' && d.value !== '') return 'It will be replaced when saved.';
      return 'Never shown. Leave the field empty to keep it.';
    }
    return d.mode === 'replace' && d.value !== '' ? 'It will be set when saved.' : 'Type one to set it.';
  };
  return (
    <div class={`field secret ${props.class ?? ''}`} data-field={props.path}>
      <label for={f.id()}>{props.label}</label>
      <div class="secret-line">
        <Dynamic
          component={props.rows ? 'textarea' : 'input'}
          id={f.id()}
          type={props.rows ? undefined : 'password'}
          rows={props.rows}
          class={props.rows ? 'mono' : undefined}
          data-testid={props.testid}
          value={props.draft.mode === 'replace' ? props.draft.value : ''}
          disabled={props.draft.mode === 'clear'}
          placeholder={props.isSet ? '(unchanged)' : ''}
          autocomplete="new-password"
          spellcheck={false}
          aria-invalid={f.errors().length > 0}
          aria-describedby={f.describedBy(props.hint !== undefined, stateId())}
          onInput={(e: InputEvent & { currentTarget: HTMLInputElement }) => props.onChange({ mode: 'replace', value: e.currentTarget.value })}
        />
        <Show when={props.isSet}>
          <button
            type="button"
            class="secondary"
            data-testid="secret-clear"
            aria-label={props.draft.mode === 'clear' ? `Keep the stored ${props.label.toLowerCase()}` : `Remove the stored ${props.label.toLowerCase()}`}
            onClick={() => props.onChange(props.draft.mode === 'clear' ? keepSecret() : { mode: 'clear', value: '' })}
          >
            {props.draft.mode === 'clear' ? 'Keep' : 'Remove'}
          </button>
        </Show>
      </div>
      <p class="small secret-state" id={stateId()} data-testid="secret-state" data-set={String(props.isSet)} data-mode={props.draft.mode}>
        <span class={`pill ${props.isSet ? 'ok' : ''}`}>{props.isSet ? 'set' : 'not set'}</span> <span class="muted">{state()}</span>
      </p>
      <Hint id={`${f.id()}-hint`} hint={props.hint} />
      <Messages id={`${f.id()}-error`} path={props.path} messages={f.errors()} />
    </div>
  );
}

/** A name → value list (a JSON field mapping: field name → path of its value). */
export function PairsField(props: { path: string; legend: string; keyLabel: string; valueLabel: string; keyHint?: string; valueHint?: string; rows: readonly Pair[]; onChange: (rows: Pair[]) => void; hint?: JSX.Element }): JSX.Element {
  const f = useField(() => props.path);
  const setRow = (i: number, change: Partial<Pair>) => props.onChange(props.rows.map((r, j) => (j === i ? { ...r, ...change } : r)));
  return (
    <fieldset class="pairs" data-field={props.path} aria-invalid={f.errors().length > 0} aria-describedby={f.describedBy(props.hint !== undefined)}>
      <legend>{props.legend}</legend>
      <Hint id={`${f.id()}-hint`} hint={props.hint} />
      <Index each={props.rows}>
        {(r, i) => (
          <div class="row pair-row">
            <div class="field grow">
              <label class="sr-only" for={`${f.id()}-${i}-key`}>
                {props.legend}, row {i + 1}: {props.keyLabel}
              </label>
              <input id={`${f.id()}-${i}-key`} class="mono" placeholder={props.keyHint ?? props.keyLabel} autocomplete="off" spellcheck={false} value={r().key} onInput={(e) => setRow(i, { key: e.currentTarget.value })} />
            </div>
            <span aria-hidden="true" class="muted pair-arrow">
              →
            </span>
            <div class="field grow">
              <label class="sr-only" for={`${f.id()}-${i}-value`}>
                {props.legend}, row {i + 1}: {props.valueLabel}
              </label>
              <input id={`${f.id()}-${i}-value`} class="mono" placeholder={props.valueHint ?? props.valueLabel} autocomplete="off" spellcheck={false} value={r().value} onInput={(e) => setRow(i, { value: e.currentTarget.value })} />
            </div>
            <div class="field">
              <button type="button" class="secondary" aria-label={`Remove row ${i + 1} of ${props.legend.toLowerCase()}`} onClick={() => props.onChange(props.rows.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          </div>
        )}
      </Index>
      <button type="button" class="secondary" onClick={() => props.onChange([...props.rows, { key: '', value: '' }])}>
        Add {props.keyLabel.toLowerCase()}
      </button>
      <Messages id={`${f.id()}-error`} path={props.path} messages={f.errors()} />
    </fieldset>
  );
}

/** A group of fields (the TLS settings, one subscription) that takes the problems of its own path, e.g. `config.tls`. */
export function FieldGroup(props: { path: string; legend: JSX.Element; class?: string; testid?: string; children: JSX.Element }): JSX.Element {
  const f = useField(() => props.path);
  return (
    <fieldset class={`group ${props.class ?? ''}`} data-field={props.path} data-testid={props.testid} aria-describedby={f.describedBy(false)}>
      <legend>{props.legend}</legend>
      <Messages id={`${f.id()}-error`} path={props.path} messages={f.errors()} />
      {props.children}
    </fieldset>
  );
}
