import { A } from '@solidjs/router';
import type { JSX } from 'solid-js';

export default function NotFound(): JSX.Element {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No page here. <A href="/">Back to the overview</A>.
      </p>
    </section>
  );
}
