// The OPC-UA connector's settings (src/connectors/opcua/config.ts,
// docs/connectors.md#opc-ua): the endpoint, security (mode and policy),
// the user (password write-only), subscribe or poll with their intervals,
// and the items, each a variable by NodeId or browse path. A stored
// connector's form can browse its server and add variables as items
// (./opcua-browse.tsx); the server certificates the gateway has seen are
// listed with their trust (./opcua-certificates.tsx).

import { For, Show, type JSX } from 'solid-js';
import { createStore } from 'solid-js/store';
import { FieldGroup, SecretField, SelectField, TextField, keepSecret, secretValue, type SecretDraft } from './fields';
import type { KindFieldsProps, KindForm } from './kind';
import { OpcuaBrowser, type PickedItem } from './opcua-browse';
import { OpcuaCertificates } from './opcua-certificates';
import { numberOrText, obj, put, str, without, type Obj } from './values';

const KEYS = ['endpoint', 'securityMode', 'securityPolicy', 'username', 'password', 'mode', 'publishingIntervalMs', 'pollIntervalMs', 'items'];
const ITEM_KEYS = ['name', 'nodeId', 'browsePath', 'samplingIntervalMs', 'queueSize', 'deadband'];

const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;
type SecurityMode = '' | (typeof SECURITY_MODES)[number];
type SecurityPolicy = '' | (typeof SECURITY_POLICIES)[number];
type Mode = '' | 'subscribe' | 'poll';
type By = 'nodeId' | 'browsePath';
type DeadbandType = '' | 'absolute' | 'percent';

export interface ItemDraft {
  name: string;
  by: By;
  /** The NodeId or the browse path, as `by` says. */
  target: string;
  samplingIntervalMs: string;
  queueSize: string;
  deadbandType: DeadbandType;
  deadbandValue: string;
  deadbandRest: Obj;
  /** Settings of the item this form does not know: sent back unchanged. */
  rest: Obj;
}
interface OpcuaDraft {
  endpoint: string;
  securityMode: SecurityMode;
  securityPolicy: SecurityPolicy;
  username: string;
  password: SecretDraft;
  mode: Mode;
  publishingIntervalMs: string;
  pollIntervalMs: string;
  items: ItemDraft[];
}

const oneOf = <T extends string>(list: readonly T[], v: unknown): T | '' => (list.includes(v as T) ? (v as T) : '');
const emptyItem = (): ItemDraft => ({ name: '', by: 'nodeId', target: '', samplingIntervalMs: '', queueSize: '', deadbandType: '', deadbandValue: '', deadbandRest: {}, rest: {} });
const isBlank = (it: ItemDraft) => it.name.trim() === '' && it.target.trim() === '' && Object.keys(it.rest).length === 0;

function itemDraft(v: unknown): ItemDraft {
  const it = obj(v);
  const db = obj(it.deadband);
  const by: By = it.nodeId === undefined && it.browsePath !== undefined ? 'browsePath' : 'nodeId';
  const other: By = by === 'nodeId' ? 'browsePath' : 'nodeId';
  return {
    name: str(it.name),
    by,
    target: str(it[by]),
    samplingIntervalMs: str(it.samplingIntervalMs),
    queueSize: str(it.queueSize),
    deadbandType: oneOf(['absolute', 'percent'] as const, db.type),
    deadbandValue: str(db.value),
    deadbandRest: without(db, ['type', 'value']),
    // The other of nodeId and browsePath too, if both are there: sent back, the API then says to keep one.
    rest: { ...without(it, ITEM_KEYS), ...(it[other] !== undefined ? { [other]: it[other] } : {}) },
  };
}

function draftOf(config: Obj | undefined): OpcuaDraft {
  const c = config ?? {};
  const items = Array.isArray(c.items) ? c.items.map(itemDraft) : [];
  return {
    endpoint: str(c.endpoint),
    securityMode: oneOf(SECURITY_MODES, c.securityMode),
    securityPolicy: oneOf(SECURITY_POLICIES, c.securityPolicy),
    username: str(c.username),
    password: keepSecret(),
    mode: oneOf(['subscribe', 'poll'] as const, c.mode),
    publishingIntervalMs: str(c.publishingIntervalMs),
    pollIntervalMs: str(c.pollIntervalMs),
    items: config === undefined && items.length === 0 ? [emptyItem()] : items,
  };
}

function itemConfig(it: ItemDraft, subscribe: boolean): Obj {
  // Every item is sent, blank or not, with its NodeId or path even when empty: the API names problems by index and key.
  const out: Obj = { ...it.rest, name: it.name.trim(), [it.by]: it.target.trim() };
  if (subscribe) {
    put(out, 'samplingIntervalMs', numberOrText(it.samplingIntervalMs));
    put(out, 'queueSize', numberOrText(it.queueSize));
    if (it.deadbandType !== '') {
      const db: Obj = { ...it.deadbandRest, type: it.deadbandType };
      put(db, 'value', numberOrText(it.deadbandValue));
      out.deadband = db;
    }
  }
  return out;
}

function configOf(d: OpcuaDraft): Obj {
  const out: Obj = { endpoint: d.endpoint.trim() };
  put(out, 'securityMode', d.securityMode);
  if (secure(d)) put(out, 'securityPolicy', d.securityPolicy);
  put(out, 'username', d.username.trim());
  const password = secretValue(d.password);
  if (password !== undefined) out.password = password;
  put(out, 'mode', d.mode);
  if (d.mode !== 'poll') put(out, 'publishingIntervalMs', numberOrText(d.publishingIntervalMs));
  put(out, 'pollIntervalMs', numberOrText(d.pollIntervalMs));
  out.items = d.items.map((it) => itemConfig(it, d.mode !== 'poll'));
  return out;
}

/** The policy applies (is shown and sent) with Sign and SignAndEncrypt, or while one is set. */
const secure = (d: OpcuaDraft) => (d.securityMode !== '' && d.securityMode !== 'None') || d.securityPolicy !== '';

function OpcuaFields(props: KindFieldsProps): JSX.Element {
  const [d, set] = createStore<OpcuaDraft>(draftOf(props.config));
  props.bind(() => configOf(d));
  const add = (picked: PickedItem) =>
    set('items', (items) => {
      const item: ItemDraft = { ...emptyItem(), ...picked };
      // A blank last row (a new connector's first) is filled instead of left blank.
      const last = items[items.length - 1];
      return last !== undefined && isBlank(last) ? [...items.slice(0, -1), item] : [...items, item];
    });
  return (
    <>
      <div class="row">
        <TextField path="config.endpoint" label="Endpoint URL" placeholder="opc.tcp://plc.local:4840" hint="opc.tcp://host:port, with a path if the server has one; no credentials in it." required class="wide-field" mono value={d.endpoint} onInput={(v) => set('endpoint', v)} />
        <SelectField
          path="config.securityMode"
          label="Security mode"
          options={[{ value: '', label: 'None (default)' }, ...SECURITY_MODES.map((m) => ({ value: m, label: m === 'SignAndEncrypt' ? 'Sign and encrypt' : m }))]}
          value={d.securityMode}
          onChange={(v) => set('securityMode', v)}
        />
        <Show when={secure(d)}>
          <SelectField
            path="config.securityPolicy"
            label="Security policy"
            hint="Sign and encrypt need one, and a trusted server certificate."
            options={[{ value: '', label: 'None (default)' }, ...SECURITY_POLICIES.map((p) => ({ value: p, label: p }))]}
            value={d.securityPolicy}
            onChange={(v) => set('securityPolicy', v)}
          />
        </Show>
      </div>
      <div class="row">
        <TextField path="config.username" label="Username (optional)" hint="Without one the session is anonymous." class="grow" value={d.username} onInput={(v) => set('username', v)} />
        <SecretField path="config.password" label="Password" class="grow" isSet={props.secrets.includes('password')} draft={d.password} onChange={(v) => set('password', v)} />
      </div>
      <div class="row">
        <SelectField
          path="config.mode"
          label="Read by"
          options={[
            { value: '', label: 'Subscription (default)' },
            { value: 'subscribe', label: 'Subscription' },
            { value: 'poll', label: 'Polling (Read)' },
          ]}
          value={d.mode}
          onChange={(v) => set('mode', v)}
        />
        <Show when={d.mode !== 'poll'}>
          <TextField path="config.publishingIntervalMs" label="Publishing interval (ms)" type="number" min={10} placeholder="1000" class="narrow" value={d.publishingIntervalMs} onInput={(v) => set('publishingIntervalMs', v)} />
        </Show>
        <TextField
          path="config.pollIntervalMs"
          label="Poll every (ms)"
          type="number"
          min={100}
          placeholder="1000"
          hint={d.mode === 'poll' ? undefined : 'Used when the server refuses a subscription.'}
          class="narrow"
          value={d.pollIntervalMs}
          onInput={(v) => set('pollIntervalMs', v)}
        />
      </div>
      <Show when={secure(d)}>
        <OpcuaCertificates />
      </Show>
      <FieldGroup path="config.items" legend="Items" class="items">
        <p class="small muted">
          Each variable is the sample <code>opcua_&lt;name&gt;</code>. A browse path (<code>/Objects/2:Plant/2:Temperature</code>) is resolved again on every new session; a NodeId (<code>ns=2;s=Temperature</code>) is used as is.
        </p>
        <For each={d.items}>
          {(it, i) => {
            const base = () => `config.items.${i()}`;
            const title = () => `Item ${i() + 1}${it.name ? ` (${it.name})` : ''}`;
            return (
              <FieldGroup path={base()} legend={`Item ${i() + 1}`} class="item" testid="opcua-item">
                <div class="row">
                  <TextField path={`${base()}.name`} label="Name" placeholder="temperature" required mono class="grow" value={it.name} onInput={(v) => set('items', i(), 'name', v)} />
                  <SelectField
                    path={`${base()}.by`}
                    label="Variable by"
                    options={[
                      { value: 'nodeId', label: 'NodeId' },
                      { value: 'browsePath', label: 'Browse path' },
                    ]}
                    value={it.by}
                    onChange={(by) => set('items', i(), 'by', by)}
                  />
                  <TextField
                    path={`${base()}.${it.by}`}
                    label={it.by === 'nodeId' ? 'NodeId' : 'Browse path'}
                    placeholder={it.by === 'nodeId' ? 'ns=2;s=Temperature' : '/Objects/2:Plant/2:Temperature'}
                    required
                    mono
                    class="wide-field"
                    value={it.target}
                    onInput={(v) => set('items', i(), 'target', v)}
                  />
                </div>
                <Show when={d.mode !== 'poll'}>
                  <div class="row">
                    <TextField path={`${base()}.samplingIntervalMs`} label="Sampling (ms)" type="number" min={0} placeholder="publishing" class="narrow" value={it.samplingIntervalMs} onInput={(v) => set('items', i(), 'samplingIntervalMs', v)} />
                    <TextField path={`${base()}.queueSize`} label="Queue size" type="number" min={1} max={10000} placeholder="1" class="narrow" value={it.queueSize} onInput={(v) => set('items', i(), 'queueSize', v)} />
                    <SelectField
                      path={`${base()}.deadband.type`}
                      label="Deadband"
                      options={[
                        { value: '', label: 'None: every change' },
                        { value: 'absolute', label: 'Absolute (in its unit)' },
                        { value: 'percent', label: 'Percent of its EURange' },
                      ]}
                      value={it.deadbandType}
                      onChange={(v) => set('items', i(), 'deadbandType', v)}
                    />
                    <Show when={it.deadbandType !== ''}>
                      <TextField path={`${base()}.deadband.value`} label={it.deadbandType === 'percent' ? 'Deadband (%)' : 'Deadband value'} type="number" min={0} required class="narrow" value={it.deadbandValue} onInput={(v) => set('items', i(), 'deadbandValue', v)} />
                    </Show>
                  </div>
                </Show>
                <Show when={Object.keys(it.rest).length > 0}>
                  <p class="small muted">Also has {Object.keys(it.rest).join(', ')} (kept as is).</p>
                </Show>
                <button type="button" class="secondary" data-testid="opcua-item-remove" aria-label={`Remove ${title().toLowerCase()}`} onClick={() => set('items', (items) => items.filter((_, j) => j !== i()))}>
                  Remove item
                </button>
              </FieldGroup>
            );
          }}
        </For>
        <button type="button" class="secondary" data-testid="opcua-item-add" onClick={() => set('items', (items) => [...items, emptyItem()])}>
          Add item
        </button>
      </FieldGroup>
      <OpcuaBrowser connectorId={props.connectorId} items={d.items} add={add} />
    </>
  );
}

export const opcuaForm: KindForm = { kind: 'opcua', keys: KEYS, Fields: OpcuaFields };
