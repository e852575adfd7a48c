// The `connectors` setting: connectors defined in the YAML file (or in
// SENTIO_CONNECTORS as YAML text), each `{name, kind, config, enabled}` as
// the API takes them. Checked at start like every setting: names unique,
// `${NAME}` in the config's strings replaced from the environment, then the
// config checked against its kind (validateConnectorConfig, as the API
// does). The gateway applies the result to the metadata store
// (src/connectors/file.ts).
//
// Substitution: only `${NAME}` with NAME of A-Z, 0-9 and _, anywhere in a
// string value (not in keys); `$${NAME}` is the literal text `${NAME}`. A
// variable that is not set, or `${...}` of any other shape, is an error
// naming it, so a typo never becomes a literal password. Values stay
// strings: `port: ${PORT}` gives "1883", not a number.

import { z } from 'zod';
import { keepSecrets, validateConnectorConfig } from '../connectors/index.js';
import { SentioError } from '../errors.js';
import { type ConnectorKind, connectorKinds, type FileConnector } from '../store/types.js';

/** One entry of the list, as the YAML file writes it (the API's NewConnector). */
export const connectorSpecSchema = z
  .object({
    name: z.string().min(1).max(128),
    kind: z.enum(connectorKinds as [ConnectorKind, ...ConnectorKind[]]),
    config: z.record(z.string(), z.unknown()),
    enabled: z.boolean().default(true),
  })
  .strict();

/** A connector the configuration defines, checked, its variables substituted. */
export type ConnectorSpec = FileConnector;

type Issue = (where: string, message: string) => void;

/** How messages name entry `i`: `connectors[0] (zigbee)`. */
export function connectorLabel(i: number, name: unknown): string {
  return `connectors[${i}]${typeof name === 'string' && name !== '' ? ` (${name})` : ''}`;
}

const REFERENCE = /\$(\$?)\{([^}]*)\}/g;
const VARIABLE = /^[A-Z0-9_]+$/;

/**
 * `value` with `${NAME}` in its strings replaced from `env`, at any depth;
 * each problem reported with its dot path under `where`.
 */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, where: string, issue: Issue): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (whole, escaped: string, name: string) => {
      if (escaped === '$') return whole.slice(1);
      if (!VARIABLE.test(name)) {
        issue(where, `${whole}: only \${NAME} with A-Z, 0-9 and _ is replaced from the environment (write $${whole} for the text itself)`);
        return whole;
      }
      const v = env[name];
      if (v === undefined) {
        issue(where, `\${${name}}: the environment variable ${name} is not set`);
        return whole;
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, `${where}.${i}`, issue));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, `${where}.${k}`, issue)]));
  }
  return value;
}

/**
 * The entries with their variables substituted, each checked against its
 * kind; every problem is reported, named `connectors[i] (name).<path>`.
 */
export function checkConnectors(list: readonly z.output<typeof connectorSpecSchema>[], env: NodeJS.ProcessEnv, issue: Issue): ConnectorSpec[] {
  const seen = new Set<string>();
  return list.map((c, i) => {
    const label = connectorLabel(i, c.name);
    if (seen.has(c.name)) issue(`${label}.name`, `two connectors are named "${c.name}": give each its own name`);
    seen.add(c.name);
    const unresolved: string[] = [];
    const substituted = substituteEnv(c.config, env, `${label}.config`, (where, message) => {
      unresolved.push(where);
      issue(where, message);
    }) as Record<string, unknown>;
    // As the API stores a new connector: a secret given as null is left out.
    const config = keepSecrets(c.kind, {}, substituted);
    try {
      validateConnectorConfig(c.kind, config, 'config');
    } catch (err) {
      if (!(err instanceof SentioError)) throw err;
      const issues = (err.details?.issues as Array<{ path: string; message: string }> | undefined) ?? [{ path: 'config', message: err.message }];
      for (const x of issues) {
        const where = `${label}.${x.path}`;
        // A value whose variable is missing was reported as such: not also as a bad value.
        if (!unresolved.some((u) => where === u || where.startsWith(`${u}.`))) issue(where, x.message);
      }
    }
    return { name: c.name, kind: c.kind, config, enabled: c.enabled };
  });
}
