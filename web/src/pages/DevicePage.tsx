// One device: its details, its tokens (issue, rotate with an overlap,
// revoke) and the series it writes, live: /live subscribed to the device
// lists every series of the batches written with its tokens, so this is
// right whatever labels the device uses.

import { A, useNavigate, useParams } from '@solidjs/router';
import { createResource, createSignal, For, Index, onCleanup, Show, type JSX } from 'solid-js';
import { TokenReveal } from '../components/TokenReveal';
import { Empty, ErrorBanner, LabelList } from '../components/ui';
import { del, get, patch, post, roleAtLeast } from '../lib/api';
import { ago, fmtNum, fmtTime, labelText, now } from '../lib/format';
import { liveState, pointValue, subscribe, labelsOf } from '../lib/live';
import { createAction } from '../lib/action';
import { createPolledList } from '../lib/poll';
import type { Device, DeviceToken, IssuedToken, Items, Labels } from '../lib/types';
import { stateText } from './Devices';

const MAX_ROWS = 500;
/** The API's limits on a device's labels (src/api/schemas.ts). */
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_LABELS = 32;
const MAX_LABEL_VALUE = 256;

interface SeriesRow {
  ref: number;
  labels: Labels;
  t: number;
  v: number;
}

export default function DevicePage(): JSX.Element {
  const params = useParams<{ id: string }>();
  const navigate = useNavigate();
  const [device, { refetch: refetchDevice, mutate: setDevice }] = createResource(() => params.id, (id) => get<Device>(`/api/devices/${encodeURIComponent(id)}`));
  const deviceTimer = setInterval(() => void refetchDevice(), 5000);
  onCleanup(() => clearInterval(deviceTimer));
  const tokens = createPolledList(async () => (await get<Items<DeviceToken>>(`/api/devices/${encodeURIComponent(params.id)}/tokens`)).items, 15_000);

  const [issued, setIssued] = createSignal<{ token: string; title: string; note?: string } | null>(null);
  const [tokenName, setTokenName] = createSignal('');
  const [confirmDelete, setConfirmDelete] = createSignal(false);
  const [editing, setEditing] = createSignal(false);
  const canEdit = () => roleAtLeast('operator');

  const { busy, error: actionError, act } = createAction(() => tokens.refetch());
  const base = () => `/api/devices/${encodeURIComponent(params.id)}`;
  const createToken = () =>
    act(async () => {
      const t = await post<IssuedToken>(`${base()}/tokens`, tokenName().trim() ? { name: tokenName().trim() } : {});
      setTokenName('');
      setIssued({ token: t.token, title: `New token "${t.name || t.prefix}"` });
    });
  const rotate = (tok: DeviceToken) =>
    act(async () => {
      const t = await post<IssuedToken>(`${base()}/tokens`, { name: tok.name, rotate: { tokenId: tok.id, overlapSeconds: 3600 } });
      setIssued({ token: t.token, title: `Replacement for "${tok.name || tok.prefix}"`, note: 'The old token keeps working for one hour, then expires.' });
    });
  const revoke = (tok: DeviceToken) => act(() => del(`${base()}/tokens/${encodeURIComponent(tok.id)}`));
  const deleteDevice = () =>
    act(async () => {
      await del(base());
      navigate('/devices');
    });

  // Live series of the device.
  const rows = new Map<number, SeriesRow>();
  const [view, setView] = createSignal<SeriesRow[]>([]);
  const [lastAt, setLastAt] = createSignal(0);
  let raf = 0;
  const flush = () => {
    raf = 0;
    setView([...rows.values()].sort((a, b) => labelText(a.labels).localeCompare(labelText(b.labels))));
  };
  const unsubscribe = subscribe({ device: params.id }, (frame) => {
    for (const s of frame.series) {
      const labels = s.labels ?? rows.get(s.ref)?.labels ?? labelsOf(s.ref);
      if (!labels || (!rows.has(s.ref) && rows.size >= MAX_ROWS)) continue;
      rows.set(s.ref, { ref: s.ref, labels, t: s.p[0], v: pointValue(s.p[1]) });
    }
    setLastAt(Date.now());
    if (raf === 0) raf = requestAnimationFrame(flush);
  });
  onCleanup(() => {
    unsubscribe();
    cancelAnimationFrame(raf);
  });

  return (
    <section>
      <p class="small">
        <A href="/devices">← Devices</A>
      </p>
      <ErrorBanner error={device.error} />
      <Show when={device.latest}>
        {(d) => (
          <>
            <div class="page-head">
              <h1>{d().name}</h1>
              <span class={`pill state-${d().status.state}`}>{stateText[d().status.state]}</span>
            </div>
            <div class="grid">
              <div class="card">
                <h2>Details</h2>
                <dl class="facts">
                  <dt>Id</dt>
                  <dd class="mono">{d().id}</dd>
                  <Show when={d().description}>
                    <dt>Description</dt>
                    <dd>{d().description}</dd>
                  </Show>
                  <dt>Labels</dt>
                  <dd>
                    <LabelList labels={d().labels} />
                  </dd>
                  <dt>Last seen</dt>
                  <dd>{ago(d().status.lastSeenAt)}</dd>
                  <dt>Samples/s</dt>
                  <dd>{fmtNum(d().status.samplesPerSecond)}</dd>
                  <dt>Last error</dt>
                  <dd>
                    {d().status.lastError ?? '—'} <Show when={d().status.lastErrorAt}>({ago(d().status.lastErrorAt)})</Show>
                  </dd>
                  <dt>Created</dt>
                  <dd>{fmtTime(d().createdAt)}</dd>
                </dl>
                <Show when={canEdit() && editing()}>
                  <DeviceEditForm
                    device={d()}
                    onSaved={(updated) => {
                      setDevice(updated);
                      setEditing(false);
                    }}
                    onCancel={() => setEditing(false)}
                  />
                </Show>
                <Show when={canEdit() && !editing()}>
                  <div class="row">
                    <button type="button" class="secondary" data-testid="device-edit" onClick={() => setEditing(true)}>
                      Edit…
                    </button>
                  </div>
                </Show>
                <Show when={canEdit()}>
                  <Show
                    when={confirmDelete()}
                    fallback={
                      <button type="button" class="danger" onClick={() => setConfirmDelete(true)}>
                        Delete device…
                      </button>
                    }
                  >
                    <p>Delete this device and all its tokens? Its data stays in the store.</p>
                    <div class="row">
                      <button type="button" class="danger" onClick={deleteDevice} disabled={busy()}>
                        Delete
                      </button>
                      <button type="button" class="secondary" onClick={() => setConfirmDelete(false)}>
                        Cancel
                      </button>
                    </div>
                  </Show>
                </Show>
              </div>
            </div>
          </>
        )}
      </Show>

      <Show when={issued()}>{(t) => <TokenReveal token={t().token} title={t().title} note={t().note} onDismiss={() => setIssued(null)} />}</Show>

      <div class="card">
        <h2>Tokens</h2>
        <ErrorBanner error={actionError()} />
        <ErrorBanner error={tokens.error()} />
        <Show when={canEdit()}>
          <form
            class="row"
            onSubmit={(e) => {
              e.preventDefault();
              void createToken();
            }}
          >
            <div class="field grow">
              <label for="token-create-name">New token name (optional)</label>
              <input id="token-create-name" maxlength="128" value={tokenName()} onInput={(e) => setTokenName(e.currentTarget.value)} />
            </div>
            <div class="field">
              <button type="submit" data-testid="token-create" disabled={busy()}>
                Issue token
              </button>
            </div>
          </form>
        </Show>
        <Show when={tokens.items().length > 0} fallback={<Empty>{tokens.loaded() ? 'No tokens.' : 'Loading…'}</Empty>}>
          <div class="table-wrap">
            <table class="reflow">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  <Show when={canEdit()}>
                    <th scope="col">Actions</th>
                  </Show>
                </tr>
              </thead>
              <tbody>
                <For each={tokens.items()}>
                  {(t) => (
                    <tr data-testid="token-row" data-token-id={t.id} data-state={t.state}>
                      <td data-label="Name">{t.name || '—'}</td>
                      <td data-label="Prefix" class="mono">
                        {t.prefix}…
                      </td>
                      <td data-label="State">
                        <span class={`pill state-${t.state}`}>{t.state}</span>
                      </td>
                      <td data-label="Created">{fmtTime(t.createdAt)}</td>
                      <td data-label="Expires">{t.expiresAt ? fmtTime(t.expiresAt) : 'never'}</td>
                      <td data-label="Last used">{ago(t.lastUsedAt)}</td>
                      <Show when={canEdit()}>
                        <td class="actions" data-label="Actions">
                          <Show when={t.state === 'active' || t.state === 'expiring'}>
                            <button type="button" class="secondary" data-testid="token-rotate" disabled={busy()} onClick={() => void rotate(t)}>
                              Rotate
                            </button>
                            <button type="button" class="danger" data-testid="token-revoke" disabled={busy()} onClick={() => void revoke(t)}>
                              Revoke
                            </button>
                          </Show>
                        </td>
                      </Show>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </Show>
      </div>

      <div class="card">
        <h2>Series written by this device (live)</h2>
        <p class="small muted">
          {liveState() !== 'live'
            ? 'Not live: values below may be old.'
            : lastAt() === 0
              ? 'Waiting for the next write of this device…'
              : `Last update ${Math.max(0, Math.round((now() - lastAt()) / 1000))} s ago.`}
          {view().length >= MAX_ROWS ? ` Showing the first ${MAX_ROWS} series.` : ''}
        </p>
        <Show when={view().length > 0}>
          <div class="table-wrap" classList={{ stale: liveState() !== 'live' }}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Series</th>
                  <th scope="col">Value</th>
                  <th scope="col">At</th>
                </tr>
              </thead>
              <tbody>
                <Index each={view()}>
                  {(r) => (
                    <tr data-testid="series-row">
                      <td class="mono small">{labelText(r().labels)}</td>
                      <td class="num">{fmtNum(r().v, 3)}</td>
                      <td class="small">{new Date(r().t).toLocaleTimeString()}</td>
                    </tr>
                  )}
                </Index>
              </tbody>
            </table>
          </div>
        </Show>
      </div>
    </section>
  );
}

interface LabelRow {
  key: string;
  value: string;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** Checks what the API would refuse, so the form can say it before sending. */
function labelProblem(rows: LabelRow[]): string | null {
  const used = rows.filter((r) => r.key.trim() !== '' || r.value !== '');
  if (used.length > MAX_LABELS) return `At most ${MAX_LABELS} labels.`;
  const seen = new Set<string>();
  for (const r of used) {
    const k = r.key.trim();
    if (!LABEL_NAME.test(k)) return `Label name "${k}": a letter or _ first, then letters, digits or _ (64 at most).`;
    if (seen.has(k)) return `Label "${k}" appears twice.`;
    seen.add(k);
    if (r.value.length > MAX_LABEL_VALUE) return `Label "${k}": the value is longer than ${MAX_LABEL_VALUE} characters.`;
  }
  return null;
}

/** Edits a device's name, description and labels (PATCH /api/devices/{id}: only what changed is sent). */
function DeviceEditForm(props: { device: Device; onSaved: (d: Device) => void; onCancel: () => void }): JSX.Element {
  const d = props.device;
  const [name, setName] = createSignal(d.name);
  const [description, setDescription] = createSignal(d.description);
  const [rows, setRows] = createSignal<LabelRow[]>(Object.entries(d.labels).map(([key, value]) => ({ key, value })));
  const [error, setError] = createSignal<unknown>(null);
  const [busy, setBusy] = createSignal(false);

  const setRow = (i: number, change: Partial<LabelRow>) => setRows(rows().map((r, j) => (j === i ? { ...r, ...change } : r)));
  const submit = async () => {
    if (busy()) return;
    setError(null);
    const problem = name().trim() === '' ? 'The name must not be empty.' : labelProblem(rows());
    if (problem !== null) {
      setError(new Error(problem));
      return;
    }
    const labels: Labels = {};
    for (const r of rows()) if (r.key.trim() !== '' || r.value !== '') labels[r.key.trim()] = r.value;
    const body: { name?: string; description?: string; labels?: Labels } = {};
    if (name().trim() !== d.name) body.name = name().trim();
    if (description() !== d.description) body.description = description();
    if (!sameLabels(labels, d.labels)) body.labels = labels;
    if (Object.keys(body).length === 0) {
      props.onCancel();
      return;
    }
    setBusy(true);
    try {
      props.onSaved(await patch<Device>(`/api/devices/${encodeURIComponent(d.id)}`, body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="device-edit"
      aria-label="Edit the device"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <div class="field">
        <label for="device-edit-name">Name</label>
        <input id="device-edit-name" data-testid="device-edit-name" required maxlength="128" autocomplete="off" value={name()} onInput={(e) => setName(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="device-edit-description">Description</label>
        <textarea id="device-edit-description" data-testid="device-edit-description" maxlength="1024" rows="2" value={description()} onInput={(e) => setDescription(e.currentTarget.value)} />
      </div>
      <fieldset class="label-rows">
        <legend>Labels</legend>
        <Show when={rows().length > 0} fallback={<p class="small muted">No labels.</p>}>
          <Index each={rows()}>
            {(r, i) => (
              <div class="row label-row" data-testid="device-edit-label">
                <div class="field grow">
                  <label class="sr-only" for={`device-label-key-${i}`}>
                    Label {i + 1} name
                  </label>
                  <input
                    id={`device-label-key-${i}`}
                    data-testid="device-edit-label-key"
                    placeholder="name"
                    maxlength="64"
                    autocomplete="off"
                    value={r().key}
                    onInput={(e) => setRow(i, { key: e.currentTarget.value })}
                  />
                </div>
                <div class="field grow">
                  <label class="sr-only" for={`device-label-value-${i}`}>
                    Label {i + 1} value
                  </label>
                  <input
                    id={`device-label-value-${i}`}
                    data-testid="device-edit-label-value"
                    placeholder="value"
                    maxlength={MAX_LABEL_VALUE}
                    autocomplete="off"
                    value={r().value}
                    onInput={(e) => setRow(i, { value: e.currentTarget.value })}
                  />
                </div>
                <div class="field">
                  <button
                    type="button"
                    class="secondary"
                    data-testid="device-edit-label-remove"
                    aria-label={`Remove label ${i + 1}${r().key ? ` (${r().key})` : ''}`}
                    onClick={() => setRows(rows().filter((_, j) => j !== i))}
                  >
                    Remove
                  </button>
                </div>
              </div>
            )}
          </Index>
        </Show>
        <button
          type="button"
          class="secondary"
          data-testid="device-edit-label-add"
          disabled={rows().length >= MAX_LABELS}
          title={rows().length >= MAX_LABELS ? `At most ${MAX_LABELS} labels` : undefined}
          onClick={() => setRows([...rows(), { key: '', value: '' }])}
        >
          Add label
        </button>
      </fieldset>
      <ErrorBanner error={error()} testid="device-edit-error" />
      <div class="row">
        <button type="submit" data-testid="device-edit-save" disabled={busy()}>
          {busy() ? 'Saving…' : 'Save'}
        </button>
        <button type="button" class="secondary" data-testid="device-edit-cancel" onClick={() => props.onCancel()}>
          Cancel
        </button>
      </div>
    </form>
  );
}
