import type { JSX } from 'solid-js';

export default function Devices(): JSX.Element {
  return (
    <section>
      <h1>Devices</h1>
      <p class="muted">Coming in the next commit.</p>
    </section>
  );
}
