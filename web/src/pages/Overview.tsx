// Overview: the gateway's status as /live streams it every second (GET
// /api/status paints the first frame), and the device list (GET
// /api/devices, every 10 s). Numbers are greyed and marked when the stream
// is down or the last status is older than 3 s: never stale numbers as live.

import { A } from '@solidjs/router';
import { createEffect, createMemo, createResource, createSignal, For, on, Show, type JSX } from 'solid-js';
import { ErrorBanner, Empty } from '../components/ui';
import { get } from '../lib/api';
import { ago, fmtBytes, fmtDuration, fmtNum, now } from '../lib/format';
import { liveState, liveStatus } from '../lib/live';
import { createPolledList } from '../lib/poll';
import type { Device, GatewayStatus, Items } from '../lib/types';

const STALE_MS = 3000;
const DEVICES_EVERY_MS = 10_000;
const HISTORY = 60;

export default function Overview(): JSX.Element {
  const [first] = createResource(async () => ({ status: await get<GatewayStatus>('/api/status'), receivedAt: Date.now() }));
  const devices = createPolledList(async () => (await get<Items<Device>>('/api/devices')).items, DEVICES_EVERY_MS);

  const current = createMemo(() => {
    const l = liveStatus();
    const f = first.latest;
    if (l && (!f || l.receivedAt >= f.receivedAt)) return l;
    return f ?? null;
  });
  const st = () => current()?.status;
  const stale = () => {
    const c = current();
    return c === null || liveState() !== 'live' || now() - c.receivedAt > STALE_MS;
  };

  // The last minute of ingest rates, for the sparkline.
  const [history, setHistory] = createSignal<number[]>([]);
  createEffect(
    on(liveStatus, (l) => {
      if (l) setHistory((h) => [...h.slice(-(HISTORY - 1)), l.status.ingest.samplesPerSecond]);
    }),
  );

  const deviceList = () => devices.items();
  const online = () => deviceList().filter((d) => d.status.state === 'online').length;
  const top = () =>
    deviceList()
      .filter((d) => d.status.samplesPerSecond > 0)
      .sort((a, b) => b.status.samplesPerSecond - a.status.samplesPerSecond)
      .slice(0, 8);
  const errors = () =>
    deviceList()
      .filter((d) => d.status.lastError !== null)
      .sort((a, b) => (b.status.lastErrorAt ?? '').localeCompare(a.status.lastErrorAt ?? ''))
      .slice(0, 10);
  const protocols = () =>
    Object.entries(st()?.ingest.byProtocol ?? {})
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]);

  return (
    <section class="overview" classList={{ stale: stale() }}>
      <div class="page-head">
        <h1>Overview</h1>
        <Show when={stale()}>
          <span class="badge warn" role="status">
            {current() === null ? 'No status yet' : `Not live: last status ${fmtDuration((now() - current()!.receivedAt) / 1000)} old`}
          </span>
        </Show>
      </div>
      <ErrorBanner error={first.error} />
      <div class="grid">
        <article class="card stat" data-testid="ingest-rate" data-value={String(Math.round((st()?.ingest.samplesPerSecond ?? 0) * 1000) / 1000)} data-stale={stale() ? 'true' : 'false'}>
          <h2>Ingest rate</h2>
          <p class="big">
            <span class="num">{st() ? fmtNum(st()!.ingest.samplesPerSecond) : '—'}</span> <span class="unit">samples/s</span>
          </p>
          <Sparkline values={history()} />
          <table class="mini">
            <caption class="sr-only">Accepted samples per second by protocol</caption>
            <tbody>
              <For each={protocols()} fallback={<tr><td class="muted">no writes in the last second</td></tr>}>
                {([p, v]) => (
                  <tr>
                    <th scope="row">{p}</th>
                    <td class="num">{fmtNum(v)}/s</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </article>

        <article class="card stat" data-testid="accepted-rejected">
          <h2>Accepted vs rejected</h2>
          <Show when={st()} fallback={<p class="muted">—</p>}>
            {(s) => (
              <table class="mini">
                <thead>
                  <tr>
                    <th />
                    <th scope="col">per second</th>
                    <th scope="col">since start</th>
                  </tr>
                </thead>
                <tbody>
                  <tr>
                    <th scope="row">Accepted samples</th>
                    <td class="num">{fmtNum(s().ingest.samplesPerSecond)}</td>
                    <td class="num">{fmtNum(s().ingest.acceptedSamplesTotal)}</td>
                  </tr>
                  <tr classList={{ bad: s().ingest.rejectedPointsPerSecond > 0 }}>
                    <th scope="row">Rejected points</th>
                    <td class="num">{fmtNum(s().ingest.rejectedPointsPerSecond)}</td>
                    <td class="num">{fmtNum(s().ingest.rejectedPointsTotal)}</td>
                  </tr>
                  <tr classList={{ bad: s().ingest.rejectedRequestsPerSecond > 0 }}>
                    <th scope="row">Rejected requests</th>
                    <td class="num">{fmtNum(s().ingest.rejectedRequestsPerSecond)}</td>
                    <td class="num">{fmtNum(s().ingest.rejectedRequestsTotal)}</td>
                  </tr>
                </tbody>
              </table>
            )}
          </Show>
        </article>

        <article class="card stat" data-testid="active-devices" data-value={String(online())}>
          <h2>Active devices</h2>
          <p class="big">
            <span class="num">{devices.loaded() ? online() : '—'}</span>
            <span class="unit"> of {deviceList().length} online</span>
          </p>
          <p class="muted small">Online: accepted a write in the last 60 s. Refreshed every 10 s.</p>
          <ErrorBanner error={devices.error()} />
        </article>

        <article class="card wide" data-testid="queue-health">
          <h2>Sink and queue</h2>
          <Show when={st()} fallback={<p class="muted">—</p>}>
            {(s) => (
              <>
                <p>
                  <span class={`pill ${s().sink.healthy ? 'ok' : 'bad'}`}>{s().sink.healthy ? 'healthy' : 'unhealthy'}</span> sink{' '}
                  <strong>{s().sink.name}</strong>
                  <Show when={s().sink.detail}>
                    <span class="muted"> · {s().sink.detail}</span>
                  </Show>
                </p>
                <Show when={s().queue.length > 0} fallback={<p class="muted">No durable queue (or nothing queued yet).</p>}>
                  <div class="table-wrap">
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Shard</th>
                          <th scope="col">Batches</th>
                          <th scope="col">Samples</th>
                          <th scope="col">Bytes</th>
                          <th scope="col">Oldest</th>
                        </tr>
                      </thead>
                      <tbody>
                        <For each={s().queue}>
                          {(q) => (
                            <tr classList={{ bad: q.oldestAgeSeconds > 60 }}>
                              <td>{q.shard}</td>
                              <td class="num">{fmtNum(q.records)}</td>
                              <td class="num">{fmtNum(q.samples)}</td>
                              <td class="num">{fmtBytes(q.bytes)}</td>
                              <td class="num">{q.records === 0 ? '—' : fmtDuration(q.oldestAgeSeconds)}</td>
                            </tr>
                          )}
                        </For>
                      </tbody>
                    </table>
                  </div>
                </Show>
                <p class="muted small">
                  Instance {s().instance} · up {fmtDuration(s().uptimeSeconds)} · main thread load {Math.round(s().mainThreadLoad * 100)} %
                </p>
              </>
            )}
          </Show>
        </article>

        <article class="card" data-testid="top-devices">
          <h2>Top devices by rate</h2>
          <Show when={top().length > 0} fallback={<Empty>No device wrote in the last 10 s.</Empty>}>
            <ol class="ranked">
              <For each={top()}>
                {(d) => (
                  <li>
                    <A href={`/devices/${d.id}`}>{d.name}</A>
                    <span class="num">{fmtNum(d.status.samplesPerSecond)}/s</span>
                  </li>
                )}
              </For>
            </ol>
          </Show>
        </article>

        <article class="card" data-testid="recent-errors">
          <h2>Recent errors</h2>
          <Show when={st() && !st()!.sink.healthy}>
            <p class="error">Sink {st()!.sink.name}: {st()!.sink.detail ?? 'unhealthy'}</p>
          </Show>
          <Show when={errors().length > 0} fallback={<Empty>No device has had a batch refused.</Empty>}>
            <ul class="errors">
              <For each={errors()}>
                {(d) => (
                  <li>
                    <A href={`/devices/${d.id}`}>{d.name}</A> <span class="muted small">{ago(d.status.lastErrorAt)}</span>
                    <div class="small">{d.status.lastError}</div>
                  </li>
                )}
              </For>
            </ul>
          </Show>
        </article>
      </div>
    </section>
  );
}

/** The last minute of the ingest rate: one SVG polyline, not one element per point. */
function Sparkline(props: { values: number[] }): JSX.Element {
  const points = () => {
    const v = props.values;
    if (v.length < 2) return '';
    const max = Math.max(...v, 1e-9);
    return v.map((y, i) => `${((i / (HISTORY - 1)) * 100).toFixed(2)},${(28 - (y / max) * 26).toFixed(2)}`).join(' ');
  };
  return (
    <svg class="spark" viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true">
      <polyline points={points()} fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" />
    </svg>
  );
}
