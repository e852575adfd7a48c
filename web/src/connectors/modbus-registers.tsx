// The registers of one Modbus device (src/connectors/modbus/config.ts
// `Register`), edited as a list of rows: the top-level registers and each
// device's use the same editor. A row shows only the settings that apply to
// its table and type: bit for bool on a holding or input register, length
// for string, word order for 32- and 64-bit values, byte order on holding
// and input registers, scale, offset and unit for numbers; a coil or a
// discrete input is a bool.

import { For, Show, type JSX } from 'solid-js';
import { FieldGroup, SelectField, TextField } from './fields';
import { numberOrText, obj, put, str, without, type Obj } from './values';

export const TABLES = [
  { value: 'holding', label: 'holding (FC 3)' },
  { value: 'input', label: 'input (FC 4)' },
  { value: 'coil', label: 'coil (FC 1)' },
  { value: 'discrete', label: 'discrete (FC 2)' },
] as const;
export type Table = (typeof TABLES)[number]['value'];

const TYPES = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'bool', 'string'] as const;
export type RegisterType = (typeof TYPES)[number];
const WIDE: readonly string[] = ['int32', 'uint32', 'int64', 'uint64', 'float32', 'float64'];

const REGISTER_KEYS = ['name', 'table', 'address', 'type', 'bit', 'length', 'wordOrder', 'byteOrder', 'scale', 'offset', 'unit'];

type Order = '' | 'big' | 'little';
export interface RegisterDraft {
  name: string;
  table: string;
  address: string;
  type: string;
  bit: string;
  length: string;
  wordOrder: Order;
  byteOrder: Order;
  scale: string;
  offset: string;
  unit: string;
  /** Settings of the register this form does not know: sent back unchanged. */
  rest: Obj;
}

const isBits = (table: string) => table === 'coil' || table === 'discrete';
/** Which settings apply to a register of this table and type. */
export function applies(r: Pick<RegisterDraft, 'table' | 'type'>) {
  const bits = isBits(r.table);
  return {
    bit: !bits && r.type === 'bool',
    length: r.type === 'string',
    wordOrder: !bits && WIDE.includes(r.type),
    byteOrder: !bits,
    numeric: r.type !== 'bool' && r.type !== 'string',
  };
}

const orderOf = (v: unknown): Order => (v === 'big' || v === 'little' ? v : '');

export const emptyRegister = (): RegisterDraft => ({ name: '', table: 'holding', address: '', type: 'uint16', bit: '', length: '', wordOrder: '', byteOrder: '', scale: '', offset: '', unit: '', rest: {} });

export function registerDraft(v: unknown): RegisterDraft {
  const r = obj(v);
  return {
    name: str(r.name),
    table: str(r.table) || 'holding',
    address: str(r.address),
    type: str(r.type) || (isBits(str(r.table)) ? 'bool' : 'uint16'),
    bit: str(r.bit),
    length: str(r.length),
    wordOrder: orderOf(r.wordOrder),
    byteOrder: orderOf(r.byteOrder),
    scale: str(r.scale),
    offset: str(r.offset),
    unit: str(r.unit),
    rest: without(r, REGISTER_KEYS),
  };
}

export const registerDrafts = (v: unknown): RegisterDraft[] => (Array.isArray(v) ? v.map(registerDraft) : []);

/** The register to send: the settings that apply to its table and type (a hidden one is not sent). */
export function registerConfig(r: RegisterDraft): Obj {
  const a = applies(r);
  const out: Obj = { ...r.rest, name: r.name.trim(), table: r.table };
  put(out, 'address', numberOrText(r.address));
  out.type = r.type;
  if (a.bit) put(out, 'bit', numberOrText(r.bit));
  if (a.length) put(out, 'length', numberOrText(r.length));
  if (a.wordOrder) put(out, 'wordOrder', r.wordOrder);
  if (a.byteOrder) put(out, 'byteOrder', r.byteOrder);
  if (a.numeric) {
    put(out, 'scale', numberOrText(r.scale));
    put(out, 'offset', numberOrText(r.offset));
    put(out, 'unit', r.unit.trim());
  }
  return out;
}

const ORDER_OPTIONS = (big: string, little: string): ReadonlyArray<{ value: Order; label: string }> => [
  { value: '', label: 'big (default)' },
  { value: 'big', label: `big (${big})` },
  { value: 'little', label: `little (${little})` },
];

export function RegistersEditor(props: {
  /** The config path of the list: config.registers, config.devices.0.registers. */
  path: string;
  /** What the list is of, for the legend and the buttons' names: "Registers", "Registers of device main". */
  legend: string;
  registers: readonly RegisterDraft[];
  /** Changes register i (the settings given). */
  change: (i: number, c: Partial<RegisterDraft>) => void;
  /** Replaces the list (add, remove). */
  replace: (rs: RegisterDraft[]) => void;
  hint?: JSX.Element;
}): JSX.Element {
  return (
    <FieldGroup path={props.path} legend={props.legend} class="registers" testid="modbus-registers">
      <Show when={props.hint}>
        <p class="small muted">{props.hint}</p>
      </Show>
      <Show when={props.registers.length === 0}>
        <p class="small muted" data-testid="modbus-registers-none">
          No registers.
        </p>
      </Show>
      <For each={props.registers}>
        {(r, i) => {
          const base = () => `${props.path}.${i()}`;
          const a = () => applies(r);
          const setTable = (table: string) => props.change(i(), isBits(table) ? { table, type: 'bool' } : { table });
          const types = () => (isBits(r.table) ? ['bool'] : TYPES).map((t) => ({ value: t, label: t === 'string' ? 'string (a label)' : t }));
          const what = () => `register ${i() + 1}${r.name ? ` (${r.name})` : ''}`;
          return (
            <FieldGroup path={base()} legend={`Register ${i() + 1}`} class="register" testid="modbus-register">
              <div class="row">
                <TextField path={`${base()}.name`} label="Name" placeholder="voltage" hint={r.type === 'string' ? 'The label its text becomes.' : undefined} required mono class="name-field" value={r.name} onInput={(v) => props.change(i(), { name: v })} />
                <SelectField path={`${base()}.table`} label="Table" options={TABLES} value={r.table} onChange={setTable} />
                <TextField path={`${base()}.address`} label="Address" type="number" min={0} max={65535} placeholder="0" required class="narrow" value={r.address} onInput={(v) => props.change(i(), { address: v })} />
                <SelectField path={`${base()}.type`} label="Type" options={types()} value={r.type} onChange={(type) => props.change(i(), { type })} />
                <Show when={a().length}>
                  <TextField path={`${base()}.length`} label="Length" type="number" min={1} max={125} placeholder="8" hint="Registers, 2 characters each." required class="narrow" value={r.length} onInput={(v) => props.change(i(), { length: v })} />
                </Show>
                <Show when={a().bit}>
                  <TextField path={`${base()}.bit`} label="Bit (optional)" type="number" min={0} max={15} placeholder="any" hint="0: least significant; empty: non-zero is 1." class="narrow" value={r.bit} onInput={(v) => props.change(i(), { bit: v })} />
                </Show>
                <Show when={a().wordOrder}>
                  <SelectField path={`${base()}.wordOrder`} label="Word order" options={ORDER_OPTIONS('ABCD', 'CDAB')} value={r.wordOrder} onChange={(wordOrder) => props.change(i(), { wordOrder })} />
                </Show>
                <Show when={a().byteOrder}>
                  <SelectField path={`${base()}.byteOrder`} label="Byte order" options={ORDER_OPTIONS('high first', 'swapped')} value={r.byteOrder} onChange={(byteOrder) => props.change(i(), { byteOrder })} />
                </Show>
                <Show when={a().numeric}>
                  <TextField path={`${base()}.scale`} label="Scale" type="number" placeholder="1" class="narrow" value={r.scale} onInput={(v) => props.change(i(), { scale: v })} />
                  <TextField path={`${base()}.offset`} label="Offset" type="number" placeholder="0" class="narrow" value={r.offset} onInput={(v) => props.change(i(), { offset: v })} />
                  <TextField path={`${base()}.unit`} label="Unit" placeholder="V" class="narrow" value={r.unit} onInput={(v) => props.change(i(), { unit: v })} />
                </Show>
                <div class="field remove">
                  <button type="button" class="secondary" data-testid="modbus-register-remove" aria-label={`Remove ${what()} of ${props.legend.toLowerCase()}`} onClick={() => props.replace(props.registers.filter((_, j) => j !== i()))}>
                    Remove
                  </button>
                </div>
              </div>
              <Show when={Object.keys(r.rest).length > 0}>
                <p class="small muted">Also has {Object.keys(r.rest).join(', ')} (kept as is).</p>
              </Show>
            </FieldGroup>
          );
        }}
      </For>
      <button type="button" class="secondary" data-testid="modbus-register-add" aria-label={`Add a register to ${props.legend.toLowerCase()}`} onClick={() => props.replace([...props.registers, emptyRegister()])}>
        Add register
      </button>
    </FieldGroup>
  );
}
