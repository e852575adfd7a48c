// Browsing a stored OPC-UA connector's server to pick its items
// (GET /api/connectors/{id}/browse?node=<NodeId>, docs/connectors.md#browse):
// the Objects folder first, a node's children loaded when it is expanded,
// and an Add button on each variable that appends it to the form's items,
// by NodeId or by browse path (the browse names from /Objects joined by /).
// The gateway browses with the stored settings, so a new connector is saved
// first. Plain buttons in nested lists: every step works from the keyboard.

import { createSignal, For, Match, Show, Switch, type JSX } from 'solid-js';
import { describeError, get } from '../lib/api';
import type { Browsed, BrowsedNode } from '../lib/types';

const OBJECTS = { nodeId: 'i=85', path: '/Objects' };
const MAX_NAME = 200;

/** What an Add puts in the items: its name and its variable, by NodeId or browse path. */
export interface PickedItem {
  name: string;
  by: 'nodeId' | 'browsePath';
  target: string;
}

/** A metric-safe item name ([A-Za-z_][A-Za-z0-9_]*, snake case) for a node, not one of `taken`. */
export function itemName(node: Pick<BrowsedNode, 'displayName' | 'browseName'>, taken: readonly string[]): string {
  const raw = node.displayName.trim() || node.browseName.replace(/^\d+:/, '');
  let base = raw
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '');
  if (base === '') base = 'item';
  if (/^[0-9]/.test(base)) base = `_${base}`;
  base = base.slice(0, MAX_NAME - 6);
  let name = base;
  for (let n = 2; taken.includes(name); n++) name = `${base}_${n}`;
  return name;
}

type Level = { state: 'loading' } | { state: 'done'; references: BrowsedNode[]; truncated: boolean } | { state: 'failed'; error: unknown };

export function OpcuaBrowser(props: {
  /** The stored connector; undefined: a new one, which cannot be browsed yet. */
  connectorId: string | undefined;
  /** The form's items: their names are taken, and a variable already there says so. */
  items: ReadonlyArray<{ name: string; by: string; target: string }>;
  add: (item: PickedItem) => void;
}): JSX.Element {
  const [levels, setLevels] = createSignal<ReadonlyMap<string, Level>>(new Map());
  const [expanded, setExpanded] = createSignal<ReadonlySet<string>>(new Set());
  const [by, setBy] = createSignal<PickedItem['by']>('nodeId');
  const [announced, setAnnounced] = createSignal('');
  const setLevel = (nodeId: string, level: Level) => setLevels((prev) => new Map(prev).set(nodeId, level));

  const load = async (nodeId: string) => {
    const id = props.connectorId;
    if (id === undefined) return;
    setLevel(nodeId, { state: 'loading' });
    try {
      const b = await get<Browsed>(`/api/connectors/${encodeURIComponent(id)}/browse`, { node: nodeId });
      setLevel(nodeId, { state: 'done', references: b.references, truncated: b.truncated });
    } catch (error) {
      setLevel(nodeId, { state: 'failed', error });
    }
  };
  const toggle = (nodeId: string) => {
    const open = !expanded().has(nodeId);
    setExpanded((prev) => {
      const next = new Set(prev);
      if (open) next.add(nodeId);
      else next.delete(nodeId);
      return next;
    });
    if (open && levels().get(nodeId)?.state !== 'done') void load(nodeId);
  };
  const targetOf = (node: BrowsedNode, path: string) => (by() === 'nodeId' ? node.nodeId : path);
  const added = (node: BrowsedNode, path: string) => props.items.some((it) => (it.by === 'nodeId' ? it.target.trim() === node.nodeId : it.target.trim() === path));
  const addNode = (node: BrowsedNode, path: string) => {
    const item: PickedItem = { name: itemName(node, props.items.map((it) => it.name.trim())), by: by(), target: targetOf(node, path) };
    props.add(item);
    setAnnounced(`Added ${item.name} (${item.target}) to the items.`);
  };

  function Children(p: { nodeId: string; path: string }): JSX.Element {
    const level = () => levels().get(p.nodeId);
    return (
      <Switch>
        <Match when={level()?.state === 'loading'}>
          <p class="small muted" role="status" data-testid="browse-loading">
            Browsing…
          </p>
        </Match>
        <Match when={level()?.state === 'failed' && (level() as Extract<Level, { state: 'failed' }>)}>
          {(l) => (
            <div class="error" role="alert" data-testid="browse-error">
              {describeError(l().error)}{' '}
              <button type="button" class="secondary" onClick={() => void load(p.nodeId)}>
                Try again
              </button>
            </div>
          )}
        </Match>
        <Match when={level()?.state === 'done' && (level() as Extract<Level, { state: 'done' }>)}>
          {(l) => (
            <>
              <Show when={l().references.length > 0} fallback={<p class="small muted">Nothing below it.</p>}>
                <ul class="browse-list">
                  <For each={l().references}>{(node) => <NodeRow node={node} path={`${p.path}/${node.browseName}`} />}</For>
                </ul>
              </Show>
              <Show when={l().truncated}>
                <p class="small warn-text" data-testid="browse-truncated">
                  More nodes than the gateway lists (1,000): the rest are not shown. Add them by NodeId or browse path by hand.
                </p>
              </Show>
            </>
          )}
        </Match>
      </Switch>
    );
  }

  function NodeRow(p: { node: BrowsedNode; path: string }): JSX.Element {
    const open = () => expanded().has(p.node.nodeId);
    const variable = () => p.node.nodeClass === 'Variable';
    return (
      <li data-testid="browse-node" data-node-id={p.node.nodeId} data-browse-name={p.node.browseName}>
        <div class="browse-node">
          <Show when={p.node.hasChildren} fallback={<span class="browse-leaf" aria-hidden="true" />}>
            <button type="button" class="secondary browse-toggle" aria-expanded={open()} aria-label={`${open() ? 'Collapse' : 'Expand'} ${p.node.displayName}`} data-testid="browse-expand" onClick={() => toggle(p.node.nodeId)}>
              {open() ? '▾' : '▸'}
            </button>
          </Show>
          <span class="browse-name">{p.node.displayName}</span>
          <span class="small muted">
            {p.node.nodeClass}
            {p.node.dataType ? `, ${p.node.dataType}` : ''}
          </span>
          <code class="small muted browse-id" title={p.path}>
            {p.node.nodeId}
          </code>
          <Show when={variable()}>
            <button
              type="button"
              class="secondary"
              data-testid="browse-add"
              disabled={added(p.node, p.path)}
              aria-label={added(p.node, p.path) ? `${p.node.displayName} is an item` : `Add ${p.node.displayName} as an item`}
              onClick={() => addNode(p.node, p.path)}
            >
              {added(p.node, p.path) ? 'Added' : 'Add'}
            </button>
          </Show>
        </div>
        <Show when={open()}>
          <Children nodeId={p.node.nodeId} path={p.path} />
        </Show>
      </li>
    );
  }

  /** From the Objects folder again: what was loaded is forgotten (the server may have changed). */
  const restart = () => {
    setLevels(new Map());
    setExpanded(new Set<string>());
    void load(OBJECTS.nodeId);
  };
  const started = () => levels().has(OBJECTS.nodeId);
  return (
    <section class="browse" aria-labelledby="opcua-browse-title" data-testid="opcua-browse">
      <h3 id="opcua-browse-title">Browse the server</h3>
      <Show
        when={props.connectorId !== undefined}
        fallback={
          <p class="small muted" data-testid="browse-unsaved">
            Browsing the server needs the connector saved first: the gateway browses with the stored settings. Create it (it may start disabled), then edit it to pick its items here.
          </p>
        }
      >
        <p class="small muted">Browses with the saved settings (endpoint, security, user), not the unsaved changes above. Add puts a variable in the items; save to keep them.</p>
        <div class="row">
          <div class="field">
            <label for="opcua-browse-by">Add items by</label>
            <select id="opcua-browse-by" data-testid="browse-by" value={by()} onChange={(e) => setBy(e.currentTarget.value as PickedItem['by'])}>
              <option value="nodeId">NodeId</option>
              <option value="browsePath">Browse path (from /Objects)</option>
            </select>
          </div>
          <div class="field">
            <button type="button" class="secondary" data-testid="browse-start" onClick={restart}>
              {started() ? 'Browse again from Objects' : 'Browse from Objects'}
            </button>
          </div>
        </div>
        <Show when={started()}>
          <div class="browse-tree" data-testid="browse-tree">
            <span class="small muted mono">{OBJECTS.path}</span>
            <Children nodeId={OBJECTS.nodeId} path={OBJECTS.path} />
          </div>
        </Show>
        <p class="sr-only" role="status" aria-live="polite">
          {announced()}
        </p>
      </Show>
    </section>
  );
}
