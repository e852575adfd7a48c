// Overview: the gateway's status as /live streams it every second (GET
// /api/status paints the first frame), the last hour of the ingest rate
// (from the query API: the gateway writes its own counters to its sink,
// --self-metrics-interval-s), continued live, and the device list (GET
// /api/devices, every 10 s). Numbers are greyed and marked when the stream
// is down or the last status is older than 3 s: never stale numbers as live.

import { A } from '@solidjs/router';
import { createEffect, createMemo, createResource, createSignal, For, on, onCleanup, onMount, Show, type JSX } from 'solid-js';
import { ErrorBanner, Empty } from '../components/ui';
import type { LiveChart } from '../explorer/live-chart';
import { get } from '../lib/api';
import { ago, fmtBytes, fmtCount, fmtDuration, fmtNum, now } from '../lib/format';
import { liveState, liveStatus } from '../lib/live';
import { createPolledList } from '../lib/poll';
import type { Device, GatewayStatus, Items, Matrix, PromSuccess } from '../lib/types';

const STALE_MS = 3000;
const DEVICES_EVERY_MS = 10_000;
/** The history: the fleet's accepted samples per second, a minute's average every 10 s, for the last hour. */
const RATE_QUERY = 'sum(rate(sentio_accepted_samples_total[1m]))';
const RATE_STEP_MS = 10_000;
const RATE_RANGE_MS = 3_600_000;

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
      <div class="grid overview-grid">
        <article class="card stat" data-testid="ingest-rate" data-value={String(Math.round((st()?.ingest.samplesPerSecond ?? 0) * 1000) / 1000)} data-stale={stale() ? 'true' : 'false'}>
          <h2>Ingest rate</h2>
          <p class="big">
            <span class="num">{st() ? fmtNum(st()!.ingest.samplesPerSecond) : '—'}</span> <span class="unit">samples/s</span>
          </p>
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
                    <td class="num">{fmtCount(s().ingest.acceptedSamplesTotal)}</td>
                  </tr>
                  <tr classList={{ bad: s().ingest.rejectedPointsPerSecond > 0 }}>
                    <th scope="row">Rejected points</th>
                    <td class="num">{fmtNum(s().ingest.rejectedPointsPerSecond)}</td>
                    <td class="num">{fmtCount(s().ingest.rejectedPointsTotal)}</td>
                  </tr>
                  <tr classList={{ bad: s().ingest.rejectedRequestsPerSecond > 0 }}>
                    <th scope="row">Rejected requests</th>
                    <td class="num">{fmtNum(s().ingest.rejectedRequestsPerSecond)}</td>
                    <td class="num">{fmtCount(s().ingest.rejectedRequestsTotal)}</td>
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

        <IngestHistory />

        <article class="card wide" data-testid="queue-health">
          <h2>Sinks and queues</h2>
          <Show when={st()} fallback={<p class="muted">—</p>}>
            {(s) => (
              <>
                <ul class="plain" data-testid="sinks">
                  <For each={s().sinks}>
                    {(k) => (
                      <li>
                        <span class={`pill ${k.healthy ? 'ok' : 'bad'}`}>{k.healthy ? 'healthy' : 'unhealthy'}</span> <strong>{k.name}</strong>{' '}
                        <span class="muted">{k.type}</span>
                        <Show when={k.detail}>
                          <span class="muted"> · {k.detail}</span>
                        </Show>
                      </li>
                    )}
                  </For>
                </ul>
                <Show when={s().queue.length > 0} fallback={<p class="muted">No durable queue (or nothing queued yet).</p>}>
                  <div class="table-wrap">
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Sink</th>
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
                              <td>{q.sink}</td>
                              <td>{q.shard}</td>
                              <td class="num">{fmtCount(q.records)}</td>
                              <td class="num">{fmtCount(q.samples)}</td>
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

        <article class="card half" data-testid="top-devices">
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

        <article class="card half" data-testid="recent-errors">
          <h2>Recent errors</h2>
          <Show when={st() && !st()!.sink.healthy}>
            <p class="error">Sinks {st()!.sink.name}: {st()!.sink.detail ?? 'unhealthy'}</p>
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

/**
 * The ingest rate over the last hour, with time and rate axes: the history
 * from the query API (the fleet's rate, from the counters every instance
 * writes to the sink), then this instance's per-second rate from /live in
 * the current 10 s slot (latest wins). Reloaded when /live comes back, so a
 * gap is filled from the store. uPlot is loaded with this card, not with
 * the first page.
 */
function IngestHistory(): JSX.Element {
  let el!: HTMLDivElement;
  let chart: LiveChart | undefined;
  let disposed = false;
  const [error, setError] = createSignal<unknown>(null);
  const [points, setPoints] = createSignal(0);
  const [loaded, setLoaded] = createSignal(false);

  const load = async (): Promise<void> => {
    if (!chart) return;
    const endMs = Math.ceil(Date.now() / RATE_STEP_MS) * RATE_STEP_MS;
    const startMs = endMs - RATE_RANGE_MS;
    try {
      const res = await get<PromSuccess<Matrix>>('/api/query/range', { query: RATE_QUERY, start: startMs / 1000, end: endMs / 1000, step: RATE_STEP_MS / 1000 });
      setError(null);
      chart?.load({ stepMs: RATE_STEP_MS, rangeMs: RATE_RANGE_MS, endMs, result: res.data.result.map((r) => ({ ...r, metric: {} })) });
    } catch (err) {
      setError(err);
      chart?.load({ stepMs: RATE_STEP_MS, rangeMs: RATE_RANGE_MS, endMs, result: [] });
    }
    setLoaded(true);
  };

  onMount(async () => {
    const { LiveChart } = await import('../explorer/live-chart');
    if (disposed) return;
    chart = new LiveChart(
      el,
      { onCursor: () => {}, onDraw: ({ points: n }) => setPoints(n), onSeries: () => {}, onZoom: () => {} },
      null,
      () => undefined,
      { unit: 'samples/s', minHeight: 180, maxHeight: 260 },
    );
    await load();
  });
  // Live points into the current slot, once the history is drawn.
  createEffect(
    on(liveStatus, (l) => {
      if (l && loaded()) chart?.push(0, {}, l.receivedAt, l.status.ingest.samplesPerSecond);
    }),
  );
  createEffect(
    on(liveState, (s, prev) => {
      if (s === 'live' && prev !== undefined && prev !== 'live') void load();
    }),
  );
  onCleanup(() => {
    disposed = true;
    chart?.destroy();
  });

  return (
    <article class="card full" data-testid="ingest-history" data-points={String(points())} data-loaded={loaded() ? 'true' : 'false'}>
      <h2>
        Ingest rate, last hour <span class="unit muted small">samples/s</span>
      </h2>
      <div class="chart history" ref={el} role="img" aria-label="Accepted samples per second over the last hour" />
      <p class="muted small">
        Accepted samples per second, all instances (a minute's average every 10 s, from the gateway's own counters in the store), then this instance's rate live.
      </p>
      <ErrorBanner error={error()} />
    </article>
  );
}
