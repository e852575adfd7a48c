// The connector kinds the dashboard has a form for. The gateway decides
// which kinds run (a kind it lacks is refused, and the form says so next
// to the kind); a stored connector of a kind without a form here is edited
// as JSON.

import type { ConnectorKind } from '../lib/types';
import { homeAssistantForm } from './homeassistant';
import type { KindForm } from './kind';
import { modbusForm } from './modbus';
import { mqttForm } from './mqtt';
import { opcuaForm } from './opcua';

export const kindForms: readonly KindForm[] = [mqttForm, homeAssistantForm, modbusForm, opcuaForm];

export function kindForm(kind: string): KindForm | undefined {
  return kindForms.find((k) => k.kind === kind);
}

const labels: Record<ConnectorKind, string> = { mqtt: 'MQTT', homeassistant: 'Home Assistant', modbus: 'Modbus TCP', opcua: 'OPC UA' };
export const kindLabel = (kind: string): string => labels[kind as ConnectorKind] ?? kind;
