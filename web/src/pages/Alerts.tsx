// Alert rules: stored through GET/POST/PATCH/DELETE /api/alert-rules. The
// gateway does not evaluate them yet (that comes with the anomaly engine),
// so this page manages definitions only and claims no firing state.

import { createSignal, For, Show, type JSX } from 'solid-js';
import { Empty, ErrorBanner } from '../components/ui';
import { del, get, patch, post, roleAtLeast } from '../lib/api';
import { fmtTime } from '../lib/format';
import { createAction } from '../lib/action';
import { createPolledList } from '../lib/poll';
import type { AlertRule, Items } from '../lib/types';

type Severity = AlertRule['severity'];
const SEVERITIES: Severity[] = ['info', 'warning', 'critical'];

interface Draft {
  name: string;
  expr: string;
  forSeconds: string;
  severity: Severity;
  enabled: boolean;
}

function RuleFields(props: { prefix: string; draft: Draft; onChange: (d: Partial<Draft>) => void; testids?: boolean }): JSX.Element {
  const id = (f: string) => `${props.prefix}-${f}`;
  return (
    <div class="row">
      <div class="field grow">
        <label for={id('name')}>Name</label>
        <input id={id('name')} data-testid={props.testids ? 'rule-create-name' : undefined} required maxlength="128" value={props.draft.name} onInput={(e) => props.onChange({ name: e.currentTarget.value })} />
      </div>
      <div class="field grow wide-field">
        <label for={id('expr')}>Expression (PromQL or a series selector)</label>
        <input id={id('expr')} data-testid={props.testids ? 'rule-create-expr' : undefined} class="mono" required maxlength="4096" value={props.draft.expr} onInput={(e) => props.onChange({ expr: e.currentTarget.value })} />
      </div>
      <div class="field narrow">
        <label for={id('for')}>For (seconds)</label>
        <input id={id('for')} type="number" min="0" max="604800" value={props.draft.forSeconds} onInput={(e) => props.onChange({ forSeconds: e.currentTarget.value })} />
      </div>
      <div class="field">
        <label for={id('severity')}>Severity</label>
        <select id={id('severity')} value={props.draft.severity} onChange={(e) => props.onChange({ severity: e.currentTarget.value as Severity })}>
          <For each={SEVERITIES}>{(s) => <option value={s}>{s}</option>}</For>
        </select>
      </div>
      <div class="field check">
        <input id={id('enabled')} type="checkbox" checked={props.draft.enabled} onChange={(e) => props.onChange({ enabled: e.currentTarget.checked })} />
        <label for={id('enabled')}>Enabled</label>
      </div>
    </div>
  );
}

const emptyDraft = (): Draft => ({ name: '', expr: '', forSeconds: '0', severity: 'warning', enabled: true });
const body = (d: Draft) => ({ name: d.name.trim(), expr: d.expr.trim(), forSeconds: Math.max(0, Math.round(Number(d.forSeconds) || 0)), severity: d.severity, enabled: d.enabled });

export default function Alerts(): JSX.Element {
  const rules = createPolledList(async () => (await get<Items<AlertRule>>('/api/alert-rules')).items, 30_000);
  const canEdit = () => roleAtLeast('operator');
  const [draft, setDraft] = createSignal<Draft>(emptyDraft());
  const [editing, setEditing] = createSignal<{ id: string; draft: Draft } | null>(null);
  const { busy, error, act } = createAction(() => rules.refetch());

  return (
    <section>
      <h1>Alert rules</h1>
      <p class="notice">
        Rules are stored here; evaluation comes with the anomaly engine. Until then nothing fires, and this page shows only the definitions that exist.
      </p>
      <ErrorBanner error={error()} />
      <Show when={canEdit()}>
        <form
          class="card"
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await post<AlertRule>('/api/alert-rules', body(draft()));
              setDraft(emptyDraft());
            });
          }}
        >
          <h2>New rule</h2>
          <RuleFields prefix="rule-create" draft={draft()} onChange={(p) => setDraft({ ...draft(), ...p })} testids />
          <button type="submit" data-testid="rule-create-submit" disabled={busy()}>
            Create rule
          </button>
        </form>
      </Show>
      <div class="card">
        <h2>Rules</h2>
        <ErrorBanner error={rules.error()} />
        <Show when={rules.items().length > 0} fallback={<Empty>{rules.loaded() ? 'No alert rules yet.' : 'Loading…'}</Empty>}>
          <div class="table-wrap">
            <table class="reflow">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Expression</th>
                  <th scope="col">For</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Enabled</th>
                  <th scope="col">Updated</th>
                  <Show when={canEdit()}>
                    <th scope="col">Actions</th>
                  </Show>
                </tr>
              </thead>
              <tbody>
                <For each={rules.items()}>
                  {(r) => (
                    <>
                      <tr data-testid="rule-row" data-name={r.name} data-id={r.id}>
                        <td data-label="Name">{r.name}</td>
                        <td data-label="Expression" class="mono small expr">
                          {r.expr}
                        </td>
                        <td data-label="For">{r.forSeconds} s</td>
                        <td data-label="Severity">
                          <span class={`pill sev-${r.severity}`}>{r.severity}</span>
                        </td>
                        <td data-label="Enabled">{r.enabled ? 'yes' : 'no'}</td>
                        <td data-label="Updated">{fmtTime(r.updatedAt)}</td>
                        <Show when={canEdit()}>
                          <td class="actions" data-label="Actions">
                            <button
                              type="button"
                              class="secondary"
                              data-testid="rule-edit"
                              aria-expanded={editing()?.id === r.id}
                              onClick={() =>
                                setEditing(editing()?.id === r.id ? null : { id: r.id, draft: { name: r.name, expr: r.expr, forSeconds: String(r.forSeconds), severity: r.severity, enabled: r.enabled } })
                              }
                            >
                              Edit
                            </button>
                            <button type="button" class="danger" data-testid="rule-delete" disabled={busy()} onClick={() => void act(() => del(`/api/alert-rules/${r.id}`))}>
                              Delete
                            </button>
                          </td>
                        </Show>
                      </tr>
                      <Show when={editing()?.id === r.id ? editing() : null}>
                        {(ed) => (
                          <tr class="edit-row">
                            <td colSpan={7}>
                              <form
                                onSubmit={(e) => {
                                  e.preventDefault();
                                  void act(async () => {
                                    await patch<AlertRule>(`/api/alert-rules/${r.id}`, body(ed().draft));
                                    setEditing(null);
                                  });
                                }}
                              >
                                <RuleFields prefix={`rule-${r.id}`} draft={ed().draft} onChange={(p) => setEditing({ id: r.id, draft: { ...ed().draft, ...p } })} />
                                <div class="row">
                                  <button type="submit" data-testid="rule-save" disabled={busy()}>
                                    Save
                                  </button>
                                  <button type="button" class="secondary" onClick={() => setEditing(null)}>
                                    Cancel
                                  </button>
                                </div>
                              </form>
                            </td>
                          </tr>
                        )}
                      </Show>
                    </>
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
