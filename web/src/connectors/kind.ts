// What the connector form (../pages/ConnectorForm.tsx) asks of each kind's
// fields: a component that edits the settings it knows, starting from the
// stored config (secrets left out, `secrets` naming those that are set), and
// hands back, through `bind`, the function that builds the config to send.
// The form keeps the config keys a kind does not list in `keys` and edits
// them as JSON ("other settings"); a kind without fields here is edited as
// JSON whole. A new kind: a file like ./mqtt.tsx, listed in ./kinds.ts.

import type { JSX } from 'solid-js';
import type { ConnectorKind } from '../lib/types';
import type { Obj } from './values';

export interface KindFieldsProps {
  /** The stored config (without secrets); undefined for a new connector. */
  config: Obj | undefined;
  /** Config paths of the secrets that are set. */
  secrets: readonly string[];
  /** The stored connector's id; undefined for a new connector (what works only on a stored one, such as browsing its server, says so). */
  connectorId?: string;
  /** Called once: the function that builds the config to send (secrets left out are kept by the API, null removes one). */
  bind: (collect: () => Obj) => void;
}

export interface KindForm {
  kind: ConnectorKind;
  /** Top-level config keys its fields edit. */
  keys: readonly string[];
  Fields: (props: KindFieldsProps) => JSX.Element;
}
