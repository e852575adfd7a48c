// Browsing a server's address space with a connector's settings, for the
// API (GET /api/connectors/{id}/browse?node=...): the nodes below one node
// (the Objects folder by default), one level at a time, so an operator can
// pick the variables to read and copy their NodeIds or browse paths.
//
// A short session of its own (same endpoint, security and user as the
// connector: ./session.ts), closed before the answer. Bounded: at most
// MAX_REFERENCES nodes (`truncated` says when there were more). A NodeId
// that is not one, or that the server does not know, is SENTIO_ERR_VALIDATION.

import { AttributeIds, BrowseDirection, type BrowseResult, type ClientSession, DataType, NodeClass, type ReferenceDescription, resolveNodeId, StatusCodes } from 'node-opcua';
import { SentioError } from '../../errors.js';
import type { Logger } from '../../log/index.js';
import { nodeIdProblem, type OpcuaConfig } from './config.js';
import { routeNodeOpcuaLog } from './quiet.js';
import { openSession } from './session.js';
import { NODES_PER_REQUEST } from './targets.js';

export const MAX_REFERENCES = 1000;
const HIERARCHICAL_REFERENCES = 'i=33';
const OBJECTS_FOLDER = 'i=85';

export interface BrowsedNode {
  nodeId: string;
  /** With its namespace index, as a browse path step: 2:Temperature. */
  browseName: string;
  displayName: string;
  nodeClass: string;
  /** Variables: the name of their data type (Double), or its NodeId when it is not a built-in one. */
  dataType?: string;
  /** Whether it has nodes below it (browse it next). */
  hasChildren: boolean;
}

export interface Browsed {
  node: string;
  references: BrowsedNode[];
  /** More references than MAX_REFERENCES: the rest are not listed. */
  truncated: boolean;
}

function browseDescription(nodeId: string) {
  return { nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: HIERARCHICAL_REFERENCES, includeSubtypes: true, nodeClassMask: 0, resultMask: 0x3f };
}

/** The references below `nodeId`, following continuation points up to MAX_REFERENCES. */
async function children(session: ClientSession, nodeId: string): Promise<{ refs: ReferenceDescription[]; truncated: boolean }> {
  let result: BrowseResult = await session.browse(browseDescription(nodeId));
  if (result.statusCode.isNotGood()) throw new SentioError('SENTIO_ERR_VALIDATION', `node ${nodeId}: the server cannot browse it (${result.statusCode.name})${result.statusCode.name === 'BadNodeIdUnknown' ? ': no such node on this server' : ''}`);
  const refs = [...(result.references ?? [])];
  while (result.continuationPoint !== null && result.continuationPoint.length > 0 && refs.length < MAX_REFERENCES) {
    result = await session.browseNext(result.continuationPoint, false);
    refs.push(...(result.references ?? []));
  }
  const more = result.continuationPoint !== null && result.continuationPoint.length > 0;
  if (more) await session.browseNext(result.continuationPoint!, true);
  return { refs: refs.slice(0, MAX_REFERENCES), truncated: more || refs.length > MAX_REFERENCES };
}

/** Few enough nodes per retry that a server's limit on continuation points (often 5 to 50 per session) is not reached. */
const NODES_PER_RETRY = 5;

/**
 * Whether each node has nodes below it: one reference each is enough. A node
 * with more than one leaves a continuation point on the server, released
 * after each request (servers keep few per session); a node the server had
 * none left for (BadNoContinuationPoints) is asked again in a small request.
 */
async function haveChildren(session: ClientSession, nodeIds: string[]): Promise<boolean[]> {
  session.requestedMaxReferencesPerNode = 1;
  const out = new Array<boolean>(nodeIds.length).fill(false);
  const ask = async (at: number[]): Promise<number[]> => {
    const results = await session.browse(at.map((i) => browseDescription(nodeIds[i]!)));
    const held = results.map((r) => r.continuationPoint).filter((cp): cp is Buffer => cp !== null && cp.length > 0);
    if (held.length > 0) await session.browseNext(held, true);
    const again: number[] = [];
    results.forEach((r, k) => {
      if ((r.references?.length ?? 0) > 0) out[at[k]!] = true;
      else if (r.statusCode.equals(StatusCodes.BadNoContinuationPoints)) again.push(at[k]!);
    });
    return again;
  };
  const all = nodeIds.map((_, i) => i);
  let again: number[] = [];
  for (let i = 0; i < all.length; i += NODES_PER_REQUEST) again.push(...(await ask(all.slice(i, i + NODES_PER_REQUEST))));
  for (let i = 0; i < again.length; i += NODES_PER_RETRY) await ask(again.slice(i, i + NODES_PER_RETRY));
  return out;
}

/** The data type names of variables (built-in types by name, others by NodeId). */
async function dataTypes(session: ClientSession, nodeIds: string[]): Promise<Array<string | undefined>> {
  const out: Array<string | undefined> = [];
  for (let i = 0; i < nodeIds.length; i += NODES_PER_REQUEST) {
    const values = await session.read(nodeIds.slice(i, i + NODES_PER_REQUEST).map((nodeId) => ({ nodeId, attributeId: AttributeIds.DataType })));
    for (const dv of values) {
      const id = dv.statusCode.isGood() ? resolveNodeId(dv.value.value) : undefined;
      if (id === undefined) out.push(undefined);
      else out.push(id.namespace === 0 && typeof id.value === 'number' && id.value <= DataType.DiagnosticInfo ? DataType[id.value] : id.toString());
    }
  }
  return out;
}

/** The nodes below `nodeId` (default the Objects folder) on the server of `config`. */
export async function browse(config: OpcuaConfig, nodeId: string | undefined, ctx: { dataDir: string; log: Logger }): Promise<Browsed> {
  const node = nodeId ?? OBJECTS_FOLDER;
  const problem = nodeIdProblem(node);
  if (problem !== undefined) throw new SentioError('SENTIO_ERR_VALIDATION', `node: ${problem}`);
  routeNodeOpcuaLog(ctx.log);
  const opened = await openSession(config, ctx.dataDir);
  try {
    const { refs, truncated } = await children(opened.session, resolveNodeId(node).toString());
    const ids = refs.map((r) => resolveNodeId(r.nodeId).toString());
    const variables = ids.filter((_, i) => refs[i]!.nodeClass === NodeClass.Variable);
    const types = new Map(variables.map((id, i) => [id, i]));
    const [typeNames, below] = await Promise.all([dataTypes(opened.session, variables), haveChildren(opened.session, ids)]);
    const references = refs.map((r, i): BrowsedNode => {
      const t = types.get(ids[i]!);
      const dataType = t === undefined ? undefined : typeNames[t];
      return {
        nodeId: ids[i]!,
        browseName: `${r.browseName.namespaceIndex}:${r.browseName.name ?? ''}`,
        displayName: r.displayName.text ?? r.browseName.name ?? '',
        nodeClass: NodeClass[r.nodeClass] ?? String(r.nodeClass),
        ...(dataType !== undefined ? { dataType } : {}),
        hasChildren: below[i]!,
      };
    });
    return { node: resolveNodeId(node).toString(), references, truncated };
  } finally {
    await opened.close();
  }
}
