import type { JSX } from 'solid-js';

export default function Audit(): JSX.Element {
  return (
    <section>
      <h1>Audit</h1>
      <p class="muted">Coming in the next commit.</p>
    </section>
  );
}
