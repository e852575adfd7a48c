// Learned staleness on the dashboard (docs/connectors.md#staleness): a
// connector's devices and series, each judged by its own reporting
// interval, stale and offline ones first and marked; and the summary the
// list shows.

import { For, Show, type JSX } from 'solid-js';
import { Empty } from '../components/ui';
import { get } from '../lib/api';
import { ago, fmtDuration, fmtTime, labelText } from '../lib/format';
import { createPolledList } from '../lib/poll';
import type { Connector, Freshness, Items, WatchedDevice, WatchedSeries } from '../lib/types';
import { CONNECTOR_POLL_MS } from './status';

const meaning: Record<Freshness | 'offline', string> = {
  learning: 'learning its reporting interval',
  fresh: 'reporting at its own interval',
  stale: 'silent for more than 3 of its own intervals',
  offline: 'reported offline by its own availability messages',
};

/** The mark of a device or series: its word, with colour as a second cue. */
export function FreshnessMark(props: { state: Freshness | 'offline' }): JSX.Element {
  return (
    <span class={`pill fresh-${props.state}`} data-testid="freshness" data-state={props.state} title={meaning[props.state]}>
      {props.state}
    </span>
  );
}

/** "2 of 40 devices stale, 1 offline" for the list; empty when it tracks nothing. */
export function StaleSummary(props: { c: Connector }): JSX.Element {
  const st = () => props.c.status.staleness;
  const devices = () => Object.values(st().devices).reduce((a, b) => a + b, 0);
  const series = () => Object.values(st().series).reduce((a, b) => a + b, 0);
  return (
    <Show when={devices() + series() > 0} fallback={<span class="muted">—</span>}>
      <span data-testid="connector-stale-summary">
        <Show when={st().devices.stale + st().devices.offline > 0} fallback={<span class="small muted">{devices() > 0 ? `${devices()} devices fresh` : `${series()} series`}</span>}>
          <span class="pill fresh-stale">{st().devices.stale} stale</span>
          <Show when={st().devices.offline > 0}>
            {' '}
            <span class="pill fresh-offline">{st().devices.offline} offline</span>
          </Show>
          <span class="small muted"> of {devices()} devices</span>
        </Show>
        <Show when={st().series.stale > 0}>
          <br />
          <span class="small warn-text">
            {st().series.stale} of {series()} series stale
          </span>
        </Show>
      </span>
    </Show>
  );
}

function interval(ms: number | null): string {
  return ms === null ? 'learning' : `every ${fmtDuration(ms / 1000)}`;
}

/** A connector's devices and its series, polled. */
export function Watched(props: { c: Connector }): JSX.Element {
  const base = () => `/api/connectors/${encodeURIComponent(props.c.id)}`;
  // Rows are reconciled by id: a device's key, a series' labels.
  const devices = createPolledList(async () => (await get<Items<WatchedDevice>>(`${base()}/devices?limit=500`)).items.map((d) => ({ ...d, id: d.key })), CONNECTOR_POLL_MS);
  const series = createPolledList(async () => (await get<Items<WatchedSeries>>(`${base()}/series?limit=200`)).items.map((s) => ({ ...s, id: labelText(s.labels) })), CONNECTOR_POLL_MS);
  const deviceState = (d: WatchedDevice) => (d.availability === 'offline' ? 'offline' : d.freshness);
  return (
    <>
      <div class="card">
        <h2>Devices</h2>
        <p class="small muted">Each device is judged by its own reporting interval, learned from its recent gaps: stale once silent for more than 3 of them. Offline and stale devices come first.</p>
        <Show when={devices.items().length > 0} fallback={<Empty>No devices: Zigbee2MQTT devices, or the topic captures of a subscription (plant/{'{site}'}/{'{device}'}/#), are devices.</Empty>}>
          <table data-testid="connector-devices">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">State</th>
                <th scope="col">Interval</th>
                <th scope="col">Last seen</th>
                <th scope="col">Labels</th>
              </tr>
            </thead>
            <tbody>
              <For each={devices.items()}>
                {(d) => (
                  <tr data-state={deviceState(d)}>
                    <td>
                      {d.labels.device ?? d.key}
                      <Show when={d.labels.ieee_address}>
                        <div class="small muted mono">{d.labels.ieee_address}</div>
                      </Show>
                    </td>
                    <td>
                      <FreshnessMark state={deviceState(d)} />
                    </td>
                    <td>{interval(d.intervalMs)}</td>
                    <td title={fmtTime(d.lastSeenAt)}>{ago(d.lastSeenAt)}</td>
                    <td class="small mono">{labelText(d.labels)}</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Show>
      </div>
      <div class="card">
        <h2>Series</h2>
        <p class="small muted">Stale series first (up to 200 shown).</p>
        <Show when={series.items().length > 0} fallback={<Empty>No series tracked (line protocol and Home Assistant states are not: they report on change).</Empty>}>
          <table data-testid="connector-series">
            <thead>
              <tr>
                <th scope="col">Series</th>
                <th scope="col">State</th>
                <th scope="col">Interval</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              <For each={series.items()}>
                {(s) => (
                  <tr data-state={s.freshness}>
                    <td class="small mono">{labelText(s.labels)}</td>
                    <td>
                      <FreshnessMark state={s.freshness} />
                    </td>
                    <td>{interval(s.intervalMs)}</td>
                    <td title={fmtTime(s.lastSeenAt)}>{ago(s.lastSeenAt)}</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Show>
      </div>
    </>
  );
}
