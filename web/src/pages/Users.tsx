import type { JSX } from 'solid-js';

export default function Users(): JSX.Element {
  return (
    <section>
      <h1>Users</h1>
      <p class="muted">Coming in the next commit.</p>
    </section>
  );
}
