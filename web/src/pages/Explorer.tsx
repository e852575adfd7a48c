import type { JSX } from 'solid-js';

export default function Explorer(): JSX.Element {
  return (
    <section>
      <h1>Explorer</h1>
      <p class="muted">Coming in the next commit.</p>
    </section>
  );
}
