// Connectors defined in the YAML config file (the `connectors` setting,
// checked by src/config/connectors.ts), applied to the metadata store at
// start, before the runtime's first pass: created when missing, changed
// when their kind, config or enabled differ (which restarts them, here and
// on the instance that runs them), deleted once the file no longer lists
// them. They are `source: file`, read-only through the API. Connectors
// created through the API are never touched, and a file that lists one of
// their names is refused whole (the gateway does not start).
//
// Edge cases:
// - The setting absent (undefined) leaves the file's connectors as they
//   are, with a warning: an instance started without the file (or with
//   another file that sets no connectors) must not delete what the fleet's
//   file defines. `connectors: []` removes them.
// - Several instances starting at once with one file: the store applies
//   under an advisory lock, so the first changes, the others find nothing
//   to do (and write no audit entries).
// - Instances with different lists (a rolling change of the file): each
//   start applies its own, so the last instance to start wins.

import { StartupError } from '../errors.js';
import type { Logger } from '../log/index.js';
import type { FileConnector, FileConnectorsResult, MetaStore } from '../store/types.js';

/** Who the audit log names for changes made from the file. */
const ACTOR = 'system';

/** Applies `list` (undefined: the setting is absent) to the store; throws StartupError on a name an API connector holds. */
export async function applyFileConnectors(store: MetaStore, list: readonly FileConnector[] | undefined, log: Logger): Promise<FileConnectorsResult | undefined> {
  if (list === undefined) {
    const kept = (await store.listConnectors()).filter((c) => c.source === 'file');
    if (kept.length > 0) {
      log.warn(
        `connectors: ${kept.length} connector(s) defined by a config file (${kept.map((c) => c.name).join(', ')}) are kept as they are: this configuration has no connectors setting (set connectors: [] to remove them)`,
      );
    }
    return undefined;
  }
  const r = await store.applyFileConnectors(list);
  if (r.clashes.length > 0) {
    const names = r.clashes.map((c) => `"${c.name}" (id ${c.id})`).join(', ');
    throw new StartupError(
      `connectors: the config file defines ${names}, created through the API; the file does not take over API connectors: rename it in the file, or delete the API one (DELETE /api/connectors/{id}) and start again`,
    );
  }
  const audit = (action: string, c: { id: string; name: string; kind: string }) =>
    store.appendAudit({ actor: ACTOR, action, target: `connector:${c.id}`, ip: '', details: { name: c.name, kind: c.kind, source: 'file' } });
  for (const c of r.created) await audit('connector.create', c);
  for (const c of r.updated) await audit('connector.update', c);
  for (const c of r.deleted) await audit('connector.delete', c);
  const changes = [...r.created.map((c) => `created ${c.name}`), ...r.updated.map((c) => `changed ${c.name}`), ...r.deleted.map((c) => `deleted ${c.name}`)];
  log.info(`connectors from the config file: ${changes.length > 0 ? changes.join(', ') : 'no change'}${r.unchanged > 0 ? ` (${r.unchanged} unchanged)` : ''}`);
  return r;
}
