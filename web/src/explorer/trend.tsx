// The explorer's trend panel: GET /api/series/trend over the charted
// selector and range (Theil–Sen slope per hour with its CI, and the
// predicted time to a threshold the user types), one row per series.

import { createSignal, For, Show, type JSX } from 'solid-js';
import { ErrorBanner } from '../components/ui';
import { get } from '../lib/api';
import { fmtDuration, fmtNum, labelText } from '../lib/format';
import type { Labels } from '../lib/types';

interface TrendRow {
  metric: Labels;
  n: number;
  fit: { slopePerHour: number; slopeLowPerHour: number; slopeHighPerHour: number; level: number; at: number; confidence: number } | null;
  crossing: { seconds: number; soonestSeconds: number; latestSeconds: number | null; time: string } | null;
}
interface TrendReply {
  data: { threshold: number | null; result: TrendRow[] };
}

export function TrendPanel(props: { selector: string; window: string; endSec: () => number }): JSX.Element {
  const [threshold, setThreshold] = createSignal('');
  const [direction, setDirection] = createSignal<'either' | 'up' | 'down'>('either');
  const [rows, setRows] = createSignal<TrendRow[] | null>(null);
  const [asked, setAsked] = createSignal<number | null>(null);
  const [error, setError] = createSignal<unknown>(null);
  const [busy, setBusy] = createSignal(false);
  const run = async (e?: Event) => {
    e?.preventDefault();
    const t = threshold().trim();
    if (t !== '' && !Number.isFinite(Number(t))) return setError(new Error('Threshold: a number.'));
    setError(null);
    setBusy(true);
    try {
      const r = await get<TrendReply>('/api/series/trend', { query: props.selector, window: props.window, end: props.endSec(), ...(t !== '' ? { threshold: t, direction: direction() } : {}) });
      setRows(r.data.result);
      setAsked(r.data.threshold);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const when = (c: TrendRow['crossing']) => {
    if (!c) return 'not towards it';
    if (c.seconds === 0) return 'already beyond';
    const latest = c.latestSeconds === null ? 'maybe never' : fmtDuration(c.latestSeconds);
    return `in ${fmtDuration(c.seconds)} (${fmtDuration(c.soonestSeconds)} – ${latest}), ${new Date(c.time).toLocaleString()}`;
  };
  return (
    <form class="trend" data-testid="trend-panel" onSubmit={run}>
      <div class="overlay-bar">
        <div class="field">
          <label for="trend-threshold">Threshold</label>
          <input id="trend-threshold" data-testid="trend-threshold" inputMode="decimal" placeholder="e.g. 90" value={threshold()} onInput={(e) => setThreshold(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="trend-direction">Crossing</label>
          <select id="trend-direction" value={direction()} onChange={(e) => setDirection(e.currentTarget.value as 'either' | 'up' | 'down')}>
            <option value="either">either way</option>
            <option value="up">upper limit</option>
            <option value="down">lower limit</option>
          </select>
        </div>
        <div class="field">
          <button type="submit" class="secondary" data-testid="trend-run" disabled={busy()}>
            {busy() ? 'Fitting…' : 'Trend'}
          </button>
        </div>
        <span class="muted small">Theil–Sen over the chart's range; CI at 95 %.</span>
      </div>
      <ErrorBanner error={error()} />
      <Show when={rows()}>
        <table class="trend-table" data-testid="trend-table">
          <thead>
            <tr>
              <th>Series</th>
              <th>Slope / h</th>
              <th>95 % CI / h</th>
              <th>Level</th>
              <Show when={asked() !== null}>
                <th>Reaches {asked()}</th>
              </Show>
            </tr>
          </thead>
          <tbody>
            <For each={rows()!}>
              {(r) => (
                <tr>
                  <td>{labelText(r.metric)}</td>
                  <Show when={r.fit} fallback={<td colSpan={asked() !== null ? 4 : 3} class="muted">too few samples ({r.n})</td>}>
                    {(f) => (
                      <>
                        <td class="num">{fmtNum(f().slopePerHour, 3)}</td>
                        <td class="num">
                          {fmtNum(f().slopeLowPerHour, 3)} … {fmtNum(f().slopeHighPerHour, 3)}
                        </td>
                        <td class="num">{fmtNum(f().level, 3)}</td>
                        <Show when={asked() !== null}>
                          <td>{when(r.crossing)}</td>
                        </Show>
                      </>
                    )}
                  </Show>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </Show>
    </form>
  );
}
