// The Modbus TCP connector's settings (src/connectors/modbus/config.ts,
// docs/connectors.md#modbus-tcp): the server (or gateway) and the timings,
// the registers of the top-level device (its unit id and device label), and
// more devices behind the same gateway or elsewhere, each with its own unit
// id and registers (./modbus-registers.tsx), host, port and timings
// inherited unless given.

import { For, Show, type JSX } from 'solid-js';
import { createStore } from 'solid-js/store';
import { FieldGroup, TextField } from './fields';
import type { KindFieldsProps, KindForm } from './kind';
import { emptyRegister, registerConfig, registerDrafts, RegistersEditor, type RegisterDraft } from './modbus-registers';
import { numberOrText, obj, put, str, without, type Obj } from './values';

const KEYS = ['host', 'port', 'unitId', 'device', 'intervalMs', 'timeoutMs', 'maxGapRegisters', 'maxGapBits', 'registers', 'devices'];
const DEVICE_KEYS = ['name', 'host', 'port', 'unitId', 'intervalMs', 'timeoutMs', 'registers'];

interface DeviceDraft {
  name: string;
  host: string;
  port: string;
  unitId: string;
  intervalMs: string;
  timeoutMs: string;
  registers: RegisterDraft[];
  rest: Obj;
}
interface ModbusDraft {
  host: string;
  port: string;
  unitId: string;
  device: string;
  intervalMs: string;
  timeoutMs: string;
  maxGapRegisters: string;
  maxGapBits: string;
  registers: RegisterDraft[];
  devices: DeviceDraft[];
}

const emptyDevice = (): DeviceDraft => ({ name: '', host: '', port: '', unitId: '', intervalMs: '', timeoutMs: '', registers: [emptyRegister()], rest: {} });

function deviceDraft(v: unknown): DeviceDraft {
  const d = obj(v);
  return { name: str(d.name), host: str(d.host), port: str(d.port), unitId: str(d.unitId), intervalMs: str(d.intervalMs), timeoutMs: str(d.timeoutMs), registers: registerDrafts(d.registers), rest: without(d, DEVICE_KEYS) };
}

function draftOf(config: Obj | undefined): ModbusDraft {
  const c = config ?? {};
  const registers = registerDrafts(c.registers);
  return {
    host: str(c.host),
    port: str(c.port),
    unitId: str(c.unitId),
    device: str(c.device),
    intervalMs: str(c.intervalMs),
    timeoutMs: str(c.timeoutMs),
    maxGapRegisters: str(c.maxGapRegisters),
    maxGapBits: str(c.maxGapBits),
    // A new connector starts with one register to fill in.
    registers: config === undefined && registers.length === 0 ? [emptyRegister()] : registers,
    devices: Array.isArray(c.devices) ? c.devices.map(deviceDraft) : [],
  };
}

function deviceConfig(d: DeviceDraft): Obj {
  // Every device and register is sent, blank or not: the API names problems by index.
  const out: Obj = { ...d.rest, name: d.name.trim() };
  put(out, 'host', d.host.trim());
  put(out, 'port', numberOrText(d.port));
  put(out, 'unitId', numberOrText(d.unitId));
  put(out, 'intervalMs', numberOrText(d.intervalMs));
  put(out, 'timeoutMs', numberOrText(d.timeoutMs));
  out.registers = d.registers.map(registerConfig);
  return out;
}

function configOf(d: ModbusDraft): Obj {
  const out: Obj = {};
  put(out, 'host', d.host.trim());
  put(out, 'port', numberOrText(d.port));
  put(out, 'unitId', numberOrText(d.unitId));
  put(out, 'device', d.device.trim());
  put(out, 'intervalMs', numberOrText(d.intervalMs));
  put(out, 'timeoutMs', numberOrText(d.timeoutMs));
  put(out, 'maxGapRegisters', numberOrText(d.maxGapRegisters));
  put(out, 'maxGapBits', numberOrText(d.maxGapBits));
  // No top-level registers: the devices are all (the API says so when there are none either).
  if (d.registers.length > 0) out.registers = d.registers.map(registerConfig);
  if (d.devices.length > 0) out.devices = d.devices.map(deviceConfig);
  return out;
}

function ModbusFields(props: KindFieldsProps): JSX.Element {
  const [d, set] = createStore<ModbusDraft>(draftOf(props.config));
  props.bind(() => configOf(d));
  // The unit id and label name the top-level registers: shown while there are some (or while they are set, so they can be cleared).
  const topLevel = () => d.registers.length > 0 || d.unitId !== '' || d.device !== '';
  return (
    <>
      <div class="row">
        <TextField path="config.host" label="Host" placeholder="10.0.4.20" hint="The Modbus TCP server or gateway: a host name or IP address, no scheme or port." class="wide-field" mono value={d.host} onInput={(v) => set('host', v)} />
        <TextField path="config.port" label="Port" type="number" min={1} max={65535} placeholder="502" class="narrow" value={d.port} onInput={(v) => set('port', v)} />
        <TextField path="config.intervalMs" label="Poll every (ms)" type="number" min={100} placeholder="10000" class="narrow" value={d.intervalMs} onInput={(v) => set('intervalMs', v)} />
        <TextField path="config.timeoutMs" label="Timeout (ms)" type="number" min={50} max={60000} placeholder="1000" class="narrow" value={d.timeoutMs} onInput={(v) => set('timeoutMs', v)} />
      </div>
      <div class="row">
        <TextField path="config.maxGapRegisters" label="Max gap (registers)" type="number" min={0} max={124} placeholder="10" hint="Unused registers read to join two ranges in one request." class="grow" value={d.maxGapRegisters} onInput={(v) => set('maxGapRegisters', v)} />
        <TextField path="config.maxGapBits" label="Max gap (bits)" type="number" min={0} max={1999} placeholder="64" hint="The same for coils and discrete inputs." class="grow" value={d.maxGapBits} onInput={(v) => set('maxGapBits', v)} />
      </div>
      <fieldset class="group modbus-device">
        <legend>The device at the host</legend>
        <Show when={topLevel()}>
          <div class="row">
            <TextField path="config.unitId" label="Unit id" type="number" min={0} max={255} placeholder="1" hint="Many direct TCP devices answer on 255 or 0." class="narrow" value={d.unitId} onInput={(v) => set('unitId', v)} />
            <TextField path="config.device" label="Device label (optional)" placeholder={`unit${d.unitId.trim() || '1'}`} hint="The device label of its samples." mono class="grow" value={d.device} onInput={(v) => set('device', v)} />
          </div>
        </Show>
        <RegistersEditor
          path="config.registers"
          legend="Registers"
          hint={
            <>
              Addresses are 0-based: holding register 40001 is address 0. Each value is the sample <code>modbus_&lt;name&gt;</code>; a string register is a label of the device's samples. Without registers here, the devices below are all.
            </>
          }
          registers={d.registers}
          change={(i, c) => set('registers', i, c)}
          replace={(rs) => set('registers', rs)}
        />
      </fieldset>
      <FieldGroup path="config.devices" legend="More devices" class="modbus-devices">
        <p class="small muted">Other unit ids (the units behind one gateway share its connection), or other hosts. Host, port and timings are the ones above unless given.</p>
        <For each={d.devices}>
          {(dev, i) => {
            const base = () => `config.devices.${i()}`;
            const title = () => `Device ${i() + 1}${dev.name ? ` (${dev.name})` : ''}`;
            return (
              <FieldGroup path={base()} legend={title()} class="modbus-device" testid="modbus-device">
                <div class="row">
                  <TextField path={`${base()}.name`} label="Name" placeholder="main" hint="Its device label." required mono class="grow" value={dev.name} onInput={(v) => set('devices', i(), 'name', v)} />
                  <TextField path={`${base()}.unitId`} label="Unit id" type="number" min={0} max={255} placeholder="1" required class="narrow" value={dev.unitId} onInput={(v) => set('devices', i(), 'unitId', v)} />
                  <TextField path={`${base()}.host`} label="Host (optional)" placeholder={d.host || 'the host above'} mono class="grow" value={dev.host} onInput={(v) => set('devices', i(), 'host', v)} />
                  <TextField path={`${base()}.port`} label="Port (optional)" type="number" min={1} max={65535} placeholder={d.port || '502'} class="narrow" value={dev.port} onInput={(v) => set('devices', i(), 'port', v)} />
                  <TextField path={`${base()}.intervalMs`} label="Poll every (ms)" type="number" min={100} placeholder={d.intervalMs || '10000'} class="narrow" value={dev.intervalMs} onInput={(v) => set('devices', i(), 'intervalMs', v)} />
                  <TextField path={`${base()}.timeoutMs`} label="Timeout (ms)" type="number" min={50} max={60000} placeholder={d.timeoutMs || '1000'} class="narrow" value={dev.timeoutMs} onInput={(v) => set('devices', i(), 'timeoutMs', v)} />
                </div>
                <RegistersEditor
                  path={`${base()}.registers`}
                  legend={`Registers of device ${i() + 1}`}
                  registers={dev.registers}
                  change={(j, c) => set('devices', i(), 'registers', j, c)}
                  replace={(rs) => set('devices', i(), 'registers', rs)}
                />
                <Show when={Object.keys(dev.rest).length > 0}>
                  <p class="small muted">Also has {Object.keys(dev.rest).join(', ')} (kept as is).</p>
                </Show>
                <button type="button" class="secondary" data-testid="modbus-device-remove" aria-label={`Remove ${title().toLowerCase()}`} onClick={() => set('devices', (ds) => ds.filter((_, j) => j !== i()))}>
                  Remove device
                </button>
              </FieldGroup>
            );
          }}
        </For>
        <button type="button" class="secondary" data-testid="modbus-device-add" onClick={() => set('devices', (ds) => [...ds, emptyDevice()])}>
          Add device
        </button>
      </FieldGroup>
    </>
  );
}

export const modbusForm: KindForm = { kind: 'modbus', keys: KEYS, Fields: ModbusFields };
