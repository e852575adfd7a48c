// Small shared pieces: error banners, empty states, a copy button.

import { createSignal, For, Show, type JSX } from 'solid-js';
import { ApiError, describeError } from '../lib/api';

/** An error's sentence; a refused request's problems one per line when there are several. */
export function ErrorBanner(props: { error: unknown; testid?: string }): JSX.Element {
  const issues = () => (props.error instanceof ApiError && props.error.issues.length > 1 ? props.error.issues : []);
  return (
    <Show when={props.error}>
      <div class="error" role="alert" data-testid={props.testid}>
        <Show when={issues().length > 0} fallback={describeError(props.error)}>
          The request was refused:
          <ul class="issues">
            <For each={issues()}>{(i) => <li>{i.path ? `${i.path}: ${i.message}` : i.message}</li>}</For>
          </ul>
        </Show>
      </div>
    </Show>
  );
}

/** Copies text with navigator.clipboard, or a hidden textarea and execCommand where that is unavailable (plain HTTP). */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

export function CopyButton(props: { text: string; label?: string; testid?: string }): JSX.Element {
  const [done, setDone] = createSignal<'' | 'copied' | 'failed'>('');
  return (
    <button
      type="button"
      class="secondary"
      data-testid={props.testid}
      onClick={async () => {
        setDone((await copyText(props.text)) ? 'copied' : 'failed');
        setTimeout(() => setDone(''), 2000);
      }}
    >
      {done() === 'copied' ? 'Copied' : done() === 'failed' ? 'Select and copy by hand' : (props.label ?? 'Copy')}
    </button>
  );
}

export function Empty(props: { children: JSX.Element }): JSX.Element {
  return <p class="muted empty">{props.children}</p>;
}

/** A label set as `name=value` chips, sorted by name; a dash when empty. */
export function LabelList(props: { labels: Record<string, string> }): JSX.Element {
  const entries = () => Object.entries(props.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return (
    <Show when={entries().length > 0} fallback={<span class="muted">—</span>}>
      <ul class="labels" aria-label="labels">
        <For each={entries()}>
          {([k, v]) => (
            <li class="mono">
              {k}={v}
            </li>
          )}
        </For>
      </ul>
    </Show>
  );
}
