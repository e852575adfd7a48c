// A device token, shown once (the API never returns it again), with a copy
// button and a write command ready to paste.

import { Show, type JSX } from 'solid-js';
import { CopyButton } from './ui';

export function exampleCommand(token: string): string {
  return [
    `curl -sS -X POST '${location.origin}/write' \\`,
    `  -H 'Authorization: Token ${token}' \\`,
    `  --data-binary 'temperature,room=kitchen value=21.5'`,
  ].join('\n');
}

export function TokenReveal(props: { token: string; title: string; note?: string; onDismiss: () => void }): JSX.Element {
  return (
    <div class="card token-reveal" role="region" aria-label={props.title}>
      <h2>{props.title}</h2>
      <p>
        Copy it now: it is shown only once. <Show when={props.note}>{props.note}</Show>
      </p>
      <div class="token-line">
        <code data-testid="device-token" class="token">
          {props.token}
        </code>
        <CopyButton text={props.token} label="Copy token" testid="device-token-copy" />
      </div>
      <p class="small muted">Write a point with it (InfluxDB line protocol; the gateway stamps the time):</p>
      <pre data-testid="device-example-command">{exampleCommand(props.token)}</pre>
      <div class="row">
        <CopyButton text={exampleCommand(props.token)} label="Copy command" />
        <button type="button" class="secondary" onClick={() => props.onDismiss()}>
          I have saved it
        </button>
      </div>
    </div>
  );
}
