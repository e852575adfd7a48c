// TLS settings of a connector's `tls` object (MQTT: ca, cert, key,
// rejectUnauthorized, servername; Home Assistant: ca, rejectUnauthorized).
// `tls.key` is write-only.

import { Show, type JSX } from 'solid-js';
import { CheckField, FieldGroup, SecretField, SelectField, TextField, keepSecret, secretValue, type SecretDraft } from './fields';
import { fromTriState, obj, put, str, triState, without, yesByDefault, type Obj, type TriState } from './values';

const KEYS = ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'];

export interface TlsDraft {
  on: boolean;
  ca: string;
  cert: string;
  key: SecretDraft;
  rejectUnauthorized: TriState;
  servername: string;
  rest: Obj;
}

export function tlsDraft(tls: unknown, keyStored: boolean): TlsDraft {
  const t = obj(tls);
  return { on: tls !== undefined || keyStored, ca: str(t.ca), cert: str(t.cert), key: keepSecret(), rejectUnauthorized: triState(t.rejectUnauthorized), servername: str(t.servername), rest: without(t, KEYS) };
}

/**
 * The `tls` to send; undefined: none. Turned off while a key is stored, it
 * sends `{key: null}` to remove the key (the API would otherwise keep it).
 */
export function tlsConfig(d: TlsDraft, keyStored: boolean): Obj | undefined {
  if (!d.on) return keyStored ? { key: null } : undefined;
  const out: Obj = { ...d.rest };
  put(out, 'ca', d.ca.trim());
  put(out, 'cert', d.cert.trim());
  const key = secretValue(d.key);
  if (key !== undefined) out.key = key;
  put(out, 'rejectUnauthorized', fromTriState(d.rejectUnauthorized));
  put(out, 'servername', d.servername.trim());
  return out;
}

const VERIFY = yesByDefault('No: accept any certificate (insecure)');

export function TlsFields(props: {
  draft: TlsDraft;
  set: (change: Partial<TlsDraft>) => void;
  /** `tls.key` is stored. */
  keyStored: boolean;
  /** The URL scheme TLS needs, for the label. */
  scheme: string;
  /** Offer a client certificate and key, and a server name (MQTT). */
  client: boolean;
}): JSX.Element {
  const pem = 'PEM text, -----BEGIN …';
  return (
    <>
      <CheckField path="tls-on" label={`TLS settings (for ${props.scheme} URLs)`} checked={props.draft.on} onChange={(on) => props.set({ on })} />
      <Show when={props.draft.on}>
        <FieldGroup path="config.tls" legend="TLS">
          <div class="row">
            <TextField path="config.tls.ca" label="CA certificate (optional)" hint="The CA that signed the server's certificate, when it is not a public one." rows={3} mono placeholder={pem} class="grow" value={props.draft.ca} onInput={(ca) => props.set({ ca })} />
            <Show when={props.client}>
              <TextField path="config.tls.cert" label="Client certificate (optional)" rows={3} mono placeholder={pem} class="grow" value={props.draft.cert} onInput={(cert) => props.set({ cert })} />
              <SecretField path="config.tls.key" label="Client key" rows={3} class="grow" isSet={props.keyStored} draft={props.draft.key} onChange={(key) => props.set({ key })} />
            </Show>
          </div>
          <div class="row">
            <SelectField path="config.tls.rejectUnauthorized" label="Verify the server's certificate" options={VERIFY} value={props.draft.rejectUnauthorized} onChange={(rejectUnauthorized) => props.set({ rejectUnauthorized })} />
            <Show when={props.client}>
              <TextField path="config.tls.servername" label="Server name (optional, SNI)" class="grow" value={props.draft.servername} onInput={(servername) => props.set({ servername })} />
            </Show>
          </div>
        </FieldGroup>
      </Show>
    </>
  );
}
