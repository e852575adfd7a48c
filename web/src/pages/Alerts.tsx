import type { JSX } from 'solid-js';

export default function Alerts(): JSX.Element {
  return (
    <section>
      <h1>Alerts</h1>
      <p class="muted">Coming in the next commit.</p>
    </section>
  );
}
