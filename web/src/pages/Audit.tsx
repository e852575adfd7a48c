// Audit log (operator and above): GET /api/audit with filters, newest
// first, paged with `before` (the last id of the page).

import { createSignal, For, Show, type JSX } from 'solid-js';
import { NotAllowed } from '../components/Shell';
import { Empty, ErrorBanner } from '../components/ui';
import { get, roleAtLeast } from '../lib/api';
import { fmtTime } from '../lib/format';
import type { AuditEntry, Items } from '../lib/types';

const PAGE = 50;

export default function Audit(): JSX.Element {
  return (
    <Show when={roleAtLeast('operator')} fallback={<NotAllowed role="operator" />}>
      <AuditLog />
    </Show>
  );
}

/** datetime-local (local time, no zone) → RFC 3339 in UTC. */
function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function AuditLog(): JSX.Element {
  const [actor, setActor] = createSignal('');
  const [action, setAction] = createSignal('');
  const [target, setTarget] = createSignal('');
  const [since, setSince] = createSignal('');
  const [until, setUntil] = createSignal('');
  const [entries, setEntries] = createSignal<AuditEntry[]>([]);
  const [more, setMore] = createSignal(false);
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<unknown>(null);
  let filters: Record<string, string | undefined> = {};

  const fetchPage = async (before?: string) => {
    setBusy(true);
    setError(null);
    try {
      const res = await get<Items<AuditEntry>>('/api/audit', { ...filters, limit: PAGE, before });
      setEntries(before ? [...entries(), ...res.items] : res.items);
      setMore(res.items.length === PAGE);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const search = (e?: Event) => {
    e?.preventDefault();
    filters = { actor: actor().trim() || undefined, action: action().trim() || undefined, target: target().trim() || undefined, since: toIso(since()), until: toIso(until()) };
    void fetchPage();
  };
  search();

  return (
    <section>
      <h1>Audit log</h1>
      <form class="card" onSubmit={search}>
        <div class="row">
          <div class="field grow">
            <label for="audit-actor">Actor</label>
            <input id="audit-actor" placeholder="user:admin" value={actor()} onInput={(e) => setActor(e.currentTarget.value)} />
          </div>
          <div class="field grow">
            <label for="audit-action">Action (or prefix ending in ".")</label>
            <input id="audit-action" placeholder="device." value={action()} onInput={(e) => setAction(e.currentTarget.value)} />
          </div>
          <div class="field grow">
            <label for="audit-target">Target</label>
            <input id="audit-target" placeholder="device:<id>" value={target()} onInput={(e) => setTarget(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="audit-since">Since</label>
            <input id="audit-since" type="datetime-local" value={since()} onInput={(e) => setSince(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="audit-until">Until</label>
            <input id="audit-until" type="datetime-local" value={until()} onInput={(e) => setUntil(e.currentTarget.value)} />
          </div>
          <div class="field">
            <button type="submit" disabled={busy()}>
              Filter
            </button>
          </div>
        </div>
      </form>
      <ErrorBanner error={error()} />
      <div class="card">
        <Show when={entries().length > 0} fallback={<Empty>{busy() ? 'Loading…' : 'No entries match.'}</Empty>}>
          <div class="table-wrap">
            <table class="reflow">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Address</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                <For each={entries()}>
                  {(a) => (
                    <tr data-testid="audit-row" data-action={a.action} data-id={a.id}>
                      <td data-label="When">{fmtTime(a.at)}</td>
                      <td data-label="Actor">{a.actor}</td>
                      <td data-label="Action" class="mono">
                        {a.action}
                      </td>
                      <td data-label="Target" class="mono small">
                        {a.target || '—'}
                      </td>
                      <td data-label="Address" class="small">
                        {a.ip}
                      </td>
                      <td data-label="Details" class="mono small details">
                        {Object.keys(a.details).length ? JSON.stringify(a.details) : '—'}
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </Show>
        <Show when={more()}>
          <button type="button" class="secondary load-more" disabled={busy()} onClick={() => void fetchPage(entries()[entries().length - 1]?.id)}>
            Older entries
          </button>
        </Show>
      </div>
    </section>
  );
}
