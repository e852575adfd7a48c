// The MQTT connector's settings (src/connectors/mqtt/config.ts,
// docs/connectors.md#mqtt): the broker, credentials (password write-only),
// TLS, and the subscriptions, each a topic pattern and a payload format;
// json and msgpack payloads may map fields, tags and the time by path.

import { For, Show, type JSX } from 'solid-js';
import { createStore } from 'solid-js/store';
import { FieldGroup, PairsField, SecretField, SelectField, TextField, keepSecret, secretValue, type SecretDraft } from './fields';
import type { KindFieldsProps, KindForm } from './kind';
import { TlsFields, tlsConfig, tlsDraft, type TlsDraft } from './tls';
import { numberOrText, obj, objectToPairs, pairsToObject, put, str, without, type Obj, type Pair } from './values';

/** Payload formats: which settings apply to each. A stored format this list lacks is shown as is, with every setting. */
const FORMATS: ReadonlyArray<{ value: string; label: string; measurement: boolean; mapping: boolean }> = [
  { value: 'influx', label: 'InfluxDB line protocol', measurement: false, mapping: false },
  { value: 'json', label: 'JSON', measurement: true, mapping: true },
  { value: 'msgpack', label: 'msgpack', measurement: true, mapping: true },
  { value: 'value', label: 'One value (number, true/false, on/off)', measurement: true, mapping: false },
  { value: 'zigbee2mqtt', label: 'Zigbee2MQTT (base topic)', measurement: false, mapping: false },
];
const formatOf = (f: string) => FORMATS.find((x) => x.value === f) ?? { value: f, label: f, measurement: true, mapping: true };

const TIME_UNITS = ['s', 'ms', 'us', 'ns', 'iso'] as const;
const SUB_KEYS = ['topic', 'format', 'qos', 'measurement', 'fields', 'tags', 'time'];
const KEYS = ['url', 'username', 'password', 'clientId', 'protocolVersion', 'qos', 'keepaliveSeconds', 'sessionExpirySeconds', 'tls', 'subscriptions'];

type Qos = '' | '0' | '1';
interface SubDraft {
  topic: string;
  format: string;
  qos: Qos;
  measurement: string;
  fields: Pair[];
  tags: Pair[];
  timePath: string;
  timeUnit: string;
  /** Settings of the subscription this form does not know: sent back unchanged. */
  rest: Obj;
}
interface MqttDraft {
  url: string;
  username: string;
  password: SecretDraft;
  clientId: string;
  protocolVersion: '' | '4' | '5';
  qos: Qos;
  keepaliveSeconds: string;
  sessionExpirySeconds: string;
  tls: TlsDraft;
  subscriptions: SubDraft[];
}

const qosOf = (v: unknown): Qos => (v === 0 ? '0' : v === 1 ? '1' : '');
const emptySub = (): SubDraft => ({ topic: '', format: 'json', qos: '', measurement: '', fields: [], tags: [], timePath: '', timeUnit: 'ms', rest: {} });

function subDraft(v: unknown): SubDraft {
  const s = obj(v);
  const time = obj(s.time);
  return {
    topic: str(s.topic),
    format: str(s.format) || 'json',
    qos: qosOf(s.qos),
    measurement: str(s.measurement),
    fields: objectToPairs(s.fields),
    tags: objectToPairs(s.tags),
    timePath: str(time.path),
    timeUnit: str(time.unit) || 'ms',
    rest: without(s, SUB_KEYS),
  };
}

function draftOf(config: Obj | undefined, secrets: readonly string[]): MqttDraft {
  const c = config ?? {};
  const subs = Array.isArray(c.subscriptions) ? c.subscriptions.map(subDraft) : [];
  return {
    url: str(c.url),
    username: str(c.username),
    password: keepSecret(),
    clientId: str(c.clientId),
    protocolVersion: c.protocolVersion === 4 ? '4' : c.protocolVersion === 5 ? '5' : '',
    qos: qosOf(c.qos),
    keepaliveSeconds: str(c.keepaliveSeconds),
    sessionExpirySeconds: str(c.sessionExpirySeconds),
    tls: tlsDraft(c.tls, secrets.includes('tls.key')),
    subscriptions: config === undefined && subs.length === 0 ? [emptySub()] : subs,
  };
}

function subConfig(s: SubDraft): Obj {
  // Every subscription is sent, blank or not: the API names problems by index.
  const out: Obj = { ...s.rest, topic: s.topic.trim(), format: s.format };
  if (s.qos !== '') out.qos = Number(s.qos);
  const f = formatOf(s.format);
  if (f.measurement) put(out, 'measurement', s.measurement.trim());
  if (f.mapping) {
    put(out, 'fields', pairsToObject(s.fields));
    put(out, 'tags', pairsToObject(s.tags));
    if (s.timePath.trim() !== '') out.time = { path: s.timePath.trim(), unit: s.timeUnit };
  }
  return out;
}

function configOf(d: MqttDraft, secrets: readonly string[]): Obj {
  const out: Obj = { url: d.url.trim() };
  put(out, 'username', d.username);
  const password = secretValue(d.password);
  if (password !== undefined) out.password = password;
  put(out, 'clientId', d.clientId.trim());
  if (d.protocolVersion !== '') out.protocolVersion = Number(d.protocolVersion);
  if (d.qos !== '') out.qos = Number(d.qos);
  put(out, 'keepaliveSeconds', numberOrText(d.keepaliveSeconds));
  put(out, 'sessionExpirySeconds', numberOrText(d.sessionExpirySeconds));
  put(out, 'tls', tlsConfig(d.tls, secrets.includes('tls.key')));
  out.subscriptions = d.subscriptions.map(subConfig);
  return out;
}

const QOS_OPTIONS = (inherit: string): ReadonlyArray<{ value: Qos; label: string }> => [
  { value: '', label: inherit },
  { value: '0', label: '0: at most once' },
  { value: '1', label: '1: at least once' },
];

function MqttFields(props: KindFieldsProps): JSX.Element {
  const [d, set] = createStore<MqttDraft>(draftOf(props.config, props.secrets));
  props.bind(() => configOf(d, props.secrets));
  return (
    <>
      <div class="row">
        <TextField path="config.url" label="Broker URL" placeholder="mqtt://broker.local:1883" hint="mqtt:// or mqtts:// (TLS); no credentials in it." required class="wide-field" mono value={d.url} onInput={(v) => set('url', v)} />
        <TextField path="config.clientId" label="Client id (optional)" hint="Default sentio-<name>; keep it stable: the broker keeps the session under it." class="grow" value={d.clientId} onInput={(v) => set('clientId', v)} />
      </div>
      <div class="row">
        <TextField path="config.username" label="Username (optional)" class="grow" value={d.username} onInput={(v) => set('username', v)} />
        <SecretField path="config.password" label="Password" class="grow" isSet={props.secrets.includes('password')} draft={d.password} onChange={(v) => set('password', v)} />
      </div>
      <div class="row">
        <SelectField
          path="config.protocolVersion"
          label="Protocol version"
          options={[
            { value: '', label: 'MQTT 3.1.1 (default)' },
            { value: '4', label: 'MQTT 3.1.1' },
            { value: '5', label: 'MQTT 5' },
          ]}
          value={d.protocolVersion}
          onChange={(v) => set('protocolVersion', v)}
        />
        <SelectField path="config.qos" label="QoS" options={QOS_OPTIONS('1 (default)')} value={d.qos} onChange={(v) => set('qos', v)} />
        <TextField path="config.keepaliveSeconds" label="Keepalive (s)" type="number" min={5} max={3600} placeholder="30" class="narrow" value={d.keepaliveSeconds} onInput={(v) => set('keepaliveSeconds', v)} />
        <Show when={d.protocolVersion === '5' || d.sessionExpirySeconds !== ''}>
          <TextField path="config.sessionExpirySeconds" label="Session expiry (s, MQTT 5)" type="number" min={0} placeholder="86400" class="narrow" value={d.sessionExpirySeconds} onInput={(v) => set('sessionExpirySeconds', v)} />
        </Show>
      </div>
      <TlsFields draft={d.tls} set={(c) => set('tls', c)} keyStored={props.secrets.includes('tls.key')} scheme="mqtts://" client />
      <FieldGroup path="config.subscriptions" legend="Subscriptions" class="subscriptions">
        <p class="small muted">
          A topic filter (<code>+</code> one level, <code>#</code> the rest) where a level may be a capture, <code>{'{name}'}</code>, that becomes a label. A message goes to the first subscription that matches.
        </p>
        <For each={d.subscriptions}>
          {(s, i) => {
            const base = () => `config.subscriptions.${i()}`;
            const fmt = () => formatOf(s.format);
            const formats = () => (FORMATS.some((f) => f.value === s.format) ? FORMATS : [...FORMATS, fmt()]);
            return (
              <FieldGroup path={base()} legend={`Subscription ${i() + 1}`} class="subscription" testid="mqtt-subscription">
                <div class="row">
                  <TextField path={`${base()}.topic`} label="Topic" placeholder="plant/{site}/{machine}/telemetry" required mono class="wide-field" value={s.topic} onInput={(v) => set('subscriptions', i(), 'topic', v)} />
                  <SelectField path={`${base()}.format`} label="Format" options={formats()} value={s.format} onChange={(v) => set('subscriptions', i(), 'format', v)} />
                  <SelectField path={`${base()}.qos`} label="QoS" options={QOS_OPTIONS('the connector’s')} value={s.qos} onChange={(v) => set('subscriptions', i(), 'qos', v)} />
                  <Show when={fmt().measurement}>
                    <TextField path={`${base()}.measurement`} label="Measurement (optional)" placeholder="mqtt" hint="May hold captures: machine_{quantity}." class="grow" value={s.measurement} onInput={(v) => set('subscriptions', i(), 'measurement', v)} />
                  </Show>
                </div>
                <Show when={fmt().mapping}>
                  <div class="row mapping">
                    <PairsField
                      path={`${base()}.fields`}
                      legend="Fields"
                      keyLabel="Field"
                      valueLabel="Path"
                      valueHint="spindle.rpm"
                      hint="Empty: every number and boolean of the record."
                      rows={s.fields}
                      onChange={(rows) => set('subscriptions', i(), 'fields', rows)}
                    />
                    <PairsField path={`${base()}.tags`} legend="Tags" keyLabel="Label" valueLabel="Path" valueHint="op" rows={s.tags} onChange={(rows) => set('subscriptions', i(), 'tags', rows)} />
                  </div>
                  <div class="row">
                    <TextField path={`${base()}.time`} label="Time path (optional)" placeholder="ts" hint="Empty: stamped on arrival." mono class="grow" value={s.timePath} onInput={(v) => set('subscriptions', i(), 'timePath', v)} />
                    <SelectField path={`${base()}.time.unit`} label="Time unit" options={TIME_UNITS.map((u) => ({ value: u, label: u === 'iso' ? 'iso (RFC 3339)' : u }))} value={s.timeUnit} onChange={(v) => set('subscriptions', i(), 'timeUnit', v)} />
                  </div>
                </Show>
                <Show when={Object.keys(s.rest).length > 0}>
                  <p class="small muted">Also has {Object.keys(s.rest).join(', ')} (kept as is).</p>
                </Show>
                <button
                  type="button"
                  class="secondary"
                  data-testid="mqtt-subscription-remove"
                  aria-label={`Remove subscription ${i() + 1}${s.topic ? ` (${s.topic})` : ''}`}
                  onClick={() => set('subscriptions', (subs) => subs.filter((_, j) => j !== i()))}
                >
                  Remove subscription
                </button>
              </FieldGroup>
            );
          }}
        </For>
        <button type="button" class="secondary" data-testid="mqtt-subscription-add" onClick={() => set('subscriptions', (subs) => [...subs, emptySub()])}>
          Add subscription
        </button>
      </FieldGroup>
    </>
  );
}

export const mqttForm: KindForm = { kind: 'mqtt', keys: KEYS, Fields: MqttFields };
