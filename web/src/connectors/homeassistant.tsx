// The Home Assistant connector's settings
// (src/connectors/homeassistant/config.ts): the URL, a long-lived access
// token (write-only), which entities to read (entity_id globs and domains,
// one per line), and TLS for https:// URLs.

import type { JSX } from 'solid-js';
import { createStore } from 'solid-js/store';
import { SecretField, SelectField, TextField, keepSecret, secretValue, type SecretDraft } from './fields';
import type { KindFieldsProps, KindForm } from './kind';
import { TlsFields, tlsConfig, tlsDraft, type TlsDraft } from './tls';
import { fromTriState, linesToList, listToLines, numberOrText, put, str, triState, yesByDefault, type Obj, type TriState } from './values';

/** The list settings, each edited one entry per line. */
const LISTS = [
  { key: 'include', label: 'Include (entity_id globs)', placeholder: 'sensor.kitchen_*', hint: '* any characters, ? one. Empty: all entities.' },
  { key: 'exclude', label: 'Exclude (entity_id globs)', placeholder: 'sensor.*_battery', hint: 'Wins over include and domains.' },
  { key: 'domains', label: 'Domains', placeholder: 'sensor', hint: 'Only entities of these domains (with those include names). Empty: all.' },
  { key: 'excludeDomains', label: 'Excluded domains', placeholder: 'automation', hint: 'Never read; wins over include and domains.' },
] as const;
type ListKey = (typeof LISTS)[number]['key'];

const KEYS = ['url', 'token', 'attributes', 'pingIntervalSeconds', 'tls', ...LISTS.map((l) => l.key)];

interface HaDraft {
  url: string;
  token: SecretDraft;
  lists: Record<ListKey, string>;
  attributes: TriState;
  pingIntervalSeconds: string;
  tls: TlsDraft;
}

function draftOf(config: Obj | undefined, secrets: readonly string[]): HaDraft {
  const c = config ?? {};
  return {
    url: str(c.url),
    token: keepSecret(),
    lists: Object.fromEntries(LISTS.map((l) => [l.key, listToLines(c[l.key])])) as Record<ListKey, string>,
    attributes: triState(c.attributes),
    pingIntervalSeconds: str(c.pingIntervalSeconds),
    tls: tlsDraft(c.tls, secrets.includes('tls.key')),
  };
}

function configOf(d: HaDraft): Obj {
  const out: Obj = { url: d.url.trim() };
  const token = secretValue(d.token);
  if (token !== undefined) out.token = token;
  for (const l of LISTS) put(out, l.key, linesToList(d.lists[l.key]));
  put(out, 'attributes', fromTriState(d.attributes));
  put(out, 'pingIntervalSeconds', numberOrText(d.pingIntervalSeconds));
  put(out, 'tls', tlsConfig(d.tls, false));
  return out;
}

function HomeAssistantFields(props: KindFieldsProps): JSX.Element {
  const [d, set] = createStore<HaDraft>(draftOf(props.config, props.secrets));
  props.bind(() => configOf(d));
  return (
    <>
      <div class="row">
        <TextField path="config.url" label="Home Assistant URL" placeholder="http://homeassistant.local:8123" hint="http:// or https://; the base URL only." required class="wide-field" mono value={d.url} onInput={(v) => set('url', v)} />
        <SecretField path="config.token" label="Access token" hint="A long-lived access token (your Home Assistant profile → Security)." class="grow" isSet={props.secrets.includes('token')} draft={d.token} onChange={(v) => set('token', v)} />
      </div>
      <div class="row">
        {LISTS.map((l) => (
          <TextField path={`config.${l.key}`} label={l.label} placeholder={l.placeholder} hint={`One per line. ${l.hint}`} rows={3} mono class="grow" value={d.lists[l.key]} onInput={(v) => set('lists', l.key, v)} />
        ))}
      </div>
      <div class="row">
        <SelectField
          path="config.attributes"
          label="Numeric attributes as samples"
          options={yesByDefault('No: states only')}
          value={d.attributes}
          onChange={(v) => set('attributes', v)}
        />
        <TextField path="config.pingIntervalSeconds" label="Ping every (s)" type="number" min={1} max={3600} placeholder="30" class="narrow" value={d.pingIntervalSeconds} onInput={(v) => set('pingIntervalSeconds', v)} />
      </div>
      <TlsFields draft={d.tls} set={(c) => set('tls', c)} keyStored={false} scheme="https://" client={false} />
    </>
  );
}

export const homeAssistantForm: KindForm = { kind: 'homeassistant', keys: KEYS, Fields: HomeAssistantFields };
