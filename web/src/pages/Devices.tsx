// Devices: the list (GET /api/devices every 5 s) and creation (POST
// /api/devices), whose reply carries the first token, shown once.

import { A } from '@solidjs/router';
import { createSignal, For, Show, type JSX } from 'solid-js';
import { TokenReveal } from '../components/TokenReveal';
import { Empty, ErrorBanner, LabelList } from '../components/ui';
import { get, post, roleAtLeast } from '../lib/api';
import { ago, fmtNum } from '../lib/format';
import { createPolledList } from '../lib/poll';
import type { CreatedDevice, Device, Items } from '../lib/types';

export const stateText = { online: 'online', stale: 'stale', never: 'never seen' } as const;

export function parseLabels(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) return `"${part}" is not name=value`;
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export default function Devices(): JSX.Element {
  const devices = createPolledList(async () => (await get<Items<Device>>('/api/devices')).items, 5000);
  const refetch = devices.refetch;

  const [name, setName] = createSignal('');
  const [description, setDescription] = createSignal('');
  const [labels, setLabels] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [createError, setCreateError] = createSignal<unknown>(null);
  const [created, setCreated] = createSignal<CreatedDevice | null>(null);

  const create = async (e: SubmitEvent) => {
    e.preventDefault();
    const l = parseLabels(labels());
    if (typeof l === 'string') return setCreateError(new Error(`Labels: ${l}`));
    setBusy(true);
    setCreateError(null);
    try {
      const d = await post<CreatedDevice>('/api/devices', {
        name: name().trim(),
        ...(description().trim() ? { description: description().trim() } : {}),
        ...(Object.keys(l).length ? { labels: l } : {}),
      });
      setCreated(d);
      setName('');
      setDescription('');
      setLabels('');
      void refetch();
    } catch (err) {
      setCreateError(err);
    } finally {
      setBusy(false);
    }
  };

  const list = () => [...devices.items()].sort((a, b) => a.name.localeCompare(b.name));

  return (
    <section>
      <h1>Devices</h1>
      <Show when={created()}>
        {(d) => (
          <TokenReveal
            title={`Token of the new device "${d().name}"`}
            token={d().token}
            note={'Send it as "Authorization: Token <token>".'}
            onDismiss={() => setCreated(null)}
          />
        )}
      </Show>
      <Show when={roleAtLeast('operator')}>
        <form class="card" onSubmit={create}>
          <h2>New device</h2>
          <div class="row">
            <div class="field grow">
              <label for="device-create-name">Name</label>
              <input id="device-create-name" data-testid="device-create-name" required maxlength="128" value={name()} onInput={(e) => setName(e.currentTarget.value)} />
            </div>
            <div class="field grow">
              <label for="device-create-description">Description (optional)</label>
              <input id="device-create-description" maxlength="1024" value={description()} onInput={(e) => setDescription(e.currentTarget.value)} />
            </div>
            <div class="field grow">
              <label for="device-create-labels">Labels (optional, site=lab, rack=3)</label>
              <input id="device-create-labels" value={labels()} onInput={(e) => setLabels(e.currentTarget.value)} />
            </div>
            <div class="field">
              <button type="submit" data-testid="device-create-submit" disabled={busy()}>
                Create
              </button>
            </div>
          </div>
          <ErrorBanner error={createError()} />
        </form>
      </Show>
      <div class="card">
        <h2>All devices</h2>
        <ErrorBanner error={devices.error()} />
        <Show when={list().length > 0} fallback={<Empty>{devices.loaded() ? 'No devices yet.' : 'Loading…'}</Empty>}>
          <div class="table-wrap">
            <table class="reflow">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Labels</th>
                  <th scope="col">Status</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Samples/s</th>
                  <th scope="col">Last error</th>
                </tr>
              </thead>
              <tbody>
                <For each={list()}>
                  {(d) => (
                    <tr data-testid="device-row" data-name={d.name} data-state={d.status.state}>
                      <td data-label="Name">
                        <A href={`/devices/${d.id}`}>{d.name}</A>
                        <Show when={d.description}>
                          <div class="small muted">{d.description}</div>
                        </Show>
                      </td>
                      <td data-label="Labels" data-testid="device-labels">
                        <LabelList labels={d.labels} />
                      </td>
                      <td data-label="Status">
                        <span class={`pill state-${d.status.state}`}>{stateText[d.status.state]}</span>
                      </td>
                      <td data-label="Last seen">{ago(d.status.lastSeenAt)}</td>
                      <td data-label="Samples/s" class="num">
                        {fmtNum(d.status.samplesPerSecond)}
                      </td>
                      <td data-label="Last error" class="small">
                        <Show when={d.status.lastError} fallback={<span class="muted">—</span>}>
                          <span class="error-text">{d.status.lastError}</span> <span class="muted">({ago(d.status.lastErrorAt)})</span>
                        </Show>
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
