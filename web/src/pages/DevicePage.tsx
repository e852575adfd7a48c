import type { JSX } from 'solid-js';

export default function DevicePage(): JSX.Element {
  return (
    <section>
      <h1>DevicePage</h1>
      <p class="muted">Coming in the next commit.</p>
    </section>
  );
}
