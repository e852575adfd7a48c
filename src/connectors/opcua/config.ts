// The OPC-UA connector's configuration (the `config` of a connector of kind
// `opcua`), checked when it is created or changed through the API or YAML.
// Like the other kinds, what is stored is what was sent: defaults are filled
// in by `resolveItems` and the connector, once, when it is made.
//
// An item names its variable by `nodeId` (ns=2;s=Temperature) or by
// `browsePath`, a relative path from the Root folder in the text form of
// OPC-UA Part 4 A.2 (`/Objects/2:Plant/2:Temperature`: `/` follows
// hierarchical references, `2:` is the browse name's namespace index). A
// browse path is resolved to a NodeId (TranslateBrowsePathsToNodeIds) on
// every new session, so a server that was rebuilt with other NodeIds is
// still read.

import { makeBrowsePath, resolveNodeId } from 'node-opcua';
import { z } from 'zod';
// Loaded with the kind's schema, before any connector runs: node-opcua's console logging is off from then on.
import './quiet.js';

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export type SecurityModeName = (typeof SECURITY_MODES)[number];

/** The policies offered: RSA-OAEP or RSA-PSS only (Basic128Rsa15 and Basic256 are deprecated, and need PKCS#1 v1.5, which Node 20 disables). */
export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;
export type SecurityPolicyName = (typeof SECURITY_POLICIES)[number];

export const DEFAULTS = {
  securityMode: 'None',
  publishingIntervalMs: 1000,
  pollIntervalMs: 1000,
  queueSize: 1,
} as const;

const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why `text` is not a NodeId in the string form (ns=2;s=Temperature, i=85), or undefined when it is one. */
export function nodeIdProblem(text: string): string | undefined {
  try {
    resolveNodeId(text);
    return undefined;
  } catch {
    return `${JSON.stringify(text)} is not a NodeId: write it as ns=<namespace index>;<i|s|g|b>=<identifier>, such as ns=2;s=Temperature or i=2258`;
  }
}

/** Why `text` is not a browse path from the Root folder, or undefined when it is one. */
export function browsePathProblem(text: string): string | undefined {
  const hint = 'a path from the Root folder such as /Objects/2:Plant/2:Temperature (each step /<namespace index>:<browse name>)';
  if (!text.startsWith('/')) return `${JSON.stringify(text)}: the browse path must start with /: ${hint}`;
  try {
    const steps = makeBrowsePath('RootFolder', text).relativePath.elements ?? [];
    if (steps.length === 0 || steps.some((s) => s.targetName === null || s.targetName.name === null || s.targetName.name === '')) return `${JSON.stringify(text)} has an empty step: ${hint}`;
    return undefined;
  } catch (err) {
    return `${JSON.stringify(text)}: ${(err as Error).message.trim()}: ${hint}`;
  }
}

const Deadband = z
  .object({
    type: z.enum(['absolute', 'percent']).describe('absolute: a change smaller than `value` (in the value\'s unit) is not reported; percent: smaller than `value` % of the variable\'s EURange (the server refuses it for variables without one).'),
    value: z.number().finite().min(0),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.type === 'percent' && d.value > 100) ctx.addIssue({ code: 'custom', path: ['value'], message: 'a percent deadband is 0..100' });
  });

export const Item = z
  .object({
    name: z.string().min(1).max(200).regex(METRIC_NAME, 'a metric-safe name: letters, digits and _, not starting with a digit').describe('The sample is named opcua_<name>; unique in the connector.'),
    nodeId: z.string().min(1).max(4096).optional().describe('The variable\'s NodeId, such as ns=2;s=Temperature. Exactly one of nodeId and browsePath.'),
    browsePath: z.string().min(2).max(4096).optional().describe('The variable\'s path from the Root folder, such as /Objects/2:Plant/2:Temperature: resolved again on every new session.'),
    samplingIntervalMs: z.number().min(0).max(86_400_000).optional().describe('How often the server samples the value (0: as fast as it can); default the publishing interval.'),
    queueSize: z.number().int().min(1).max(10_000).optional().describe(`Default ${DEFAULTS.queueSize}: changes the server keeps between two publishes (the oldest are discarded).`),
    deadband: Deadband.optional().describe('Report a change only when it is at least this large.'),
  })
  .strict()
  .superRefine((it, ctx) => {
    if ((it.nodeId === undefined) === (it.browsePath === undefined)) ctx.addIssue({ code: 'custom', path: ['nodeId'], message: 'exactly one of nodeId and browsePath' });
    const nodeProblem = it.nodeId !== undefined ? nodeIdProblem(it.nodeId) : undefined;
    if (nodeProblem !== undefined) ctx.addIssue({ code: 'custom', path: ['nodeId'], message: nodeProblem });
    const pathProblem = it.browsePath !== undefined ? browsePathProblem(it.browsePath) : undefined;
    if (pathProblem !== undefined) ctx.addIssue({ code: 'custom', path: ['browsePath'], message: pathProblem });
  });

export const OpcuaConfig = z
  .object({
    endpoint: z
      .string()
      .max(2048)
      .regex(/^opc\.tcp:\/\/[^/\s:]+(:\d{1,5})?(\/\S*)?$/, 'an opc.tcp:// endpoint URL such as opc.tcp://plc.local:4840 (optionally with a path)')
      .refine((u) => !/^opc\.tcp:\/\/[^/@]*@/.test(u), 'no credentials in the URL: use username and password')
      .describe('The server\'s endpoint URL.'),
    securityMode: z.enum(SECURITY_MODES).optional().describe(`Default ${DEFAULTS.securityMode}. Sign and SignAndEncrypt need a securityPolicy and a trusted server certificate (see docs/connectors.md).`),
    securityPolicy: z.enum(SECURITY_POLICIES).optional().describe('None with securityMode None; Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss with Sign and SignAndEncrypt.'),
    username: z.string().min(1).max(512).optional().describe('A user name; without one the session is anonymous.'),
    password: z.string().max(4096).optional().describe('The user\'s password. Write-only: never returned.'),
    mode: z.enum(['subscribe', 'poll']).optional().describe('Default subscribe: monitored items in a subscription. poll: Read every pollIntervalMs, for servers without subscriptions (also used by itself when the server refuses a subscription).'),
    publishingIntervalMs: z.number().int().min(10).max(3_600_000).optional().describe(`Default ${DEFAULTS.publishingIntervalMs}: how often the server sends the changes of the subscription.`),
    pollIntervalMs: z.number().int().min(100).max(86_400_000).optional().describe(`Default ${DEFAULTS.pollIntervalMs}: how often the values are read when polling (mode poll, or a subscription the server refused).`),
    items: z.array(Item).min(1).max(100_000).describe('The variables read.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const mode = c.securityMode ?? DEFAULTS.securityMode;
    const policy = c.securityPolicy ?? 'None';
    if (mode !== 'None' && policy === 'None') ctx.addIssue({ code: 'custom', path: ['securityPolicy'], message: `securityMode ${mode} needs a securityPolicy: Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss` });
    if (mode === 'None' && policy !== 'None') ctx.addIssue({ code: 'custom', path: ['securityMode'], message: `securityPolicy ${policy} needs securityMode Sign or SignAndEncrypt` });
    if (c.password !== undefined && c.username === undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: 'a password needs a username' });
    const seen = new Set<string>();
    c.items.forEach((it, i) => {
      if (seen.has(it.name)) ctx.addIssue({ code: 'custom', path: ['items', i, 'name'], message: `${it.name}: a second item of that name` });
      seen.add(it.name);
      if (c.mode === 'poll' && (it.deadband !== undefined || it.queueSize !== undefined || it.samplingIntervalMs !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['items', i], message: 'samplingIntervalMs, queueSize and deadband apply to mode subscribe' });
      }
    });
  });

export type OpcuaConfig = z.infer<typeof OpcuaConfig>;
export type Item = z.infer<typeof Item>;
export type Deadband = z.infer<typeof Deadband>;

/** Config paths that hold secrets: write-only in the API, never logged. */
export const opcuaSecrets = ['password'] as const;
