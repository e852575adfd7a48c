// Small shared pieces: error banners, empty states, a copy button.

import { createSignal, Show, type JSX } from 'solid-js';
import { describeError } from '../lib/api';

export function ErrorBanner(props: { error: unknown; testid?: string }): JSX.Element {
  return (
    <Show when={props.error}>
      <p class="error" role="alert" data-testid={props.testid}>
        {describeError(props.error)}
      </p>
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
