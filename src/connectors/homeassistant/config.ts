// The Home Assistant connector's configuration (the `config` of a connector
// of kind `homeassistant`), checked when it is created or changed through the
// API or YAML.

import { z } from 'zod';
import { parseGlob } from './filter.js';

const Glob = z
  .string()
  .min(1)
  .max(255)
  .superRefine((g, ctx) => {
    try {
      parseGlob(g);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

const Domain = z.string().regex(/^[a-z0-9_]{1,64}$/, 'a domain such as "sensor" or "binary_sensor" (lower-case letters, digits and _)');

export const HomeAssistantConfig = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((u) => /^https?:\/\/[^/\s]+/.test(u), 'an http:// or https:// URL of Home Assistant, such as http://homeassistant.local:8123')
      .refine((u) => !/^https?:\/\/[^/@]*@/.test(u), 'no credentials in the URL: use token (the URL is shown, the token never)')
      .refine((u) => !/[?#]/.test(u), 'no query or fragment: the base URL only'),
    token: z.string().min(1).max(4096).describe('A long-lived access token (HA profile → Security). Write-only: never returned.'),
    include: z.array(Glob).max(1000).optional().describe('entity_id globs (* any characters, ? one): only these entities (with those of `domains`); default all.'),
    exclude: z.array(Glob).max(1000).optional().describe('entity_id globs of entities never read; wins over include and domains.'),
    domains: z.array(Domain).max(200).optional().describe('Domains whose entities are read (with those `include` names); default all.'),
    excludeDomains: z.array(Domain).max(200).optional().describe('Domains never read; wins over include and domains.'),
    attributes: z.boolean().optional().describe('Default true: numeric attributes become samples homeassistant_<domain>_<attribute>.'),
    pingIntervalSeconds: z.number().int().min(1).max(3600).optional().describe('Default 30: a ping this often; a connection that misses a pong until the next one is dead and reconnected.'),
    tls: z
      .object({
        ca: z.string().max(65536).optional().describe('PEM: the CA that signed the server certificate.'),
        rejectUnauthorized: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.tls !== undefined && !c.url.startsWith('https://')) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls settings need an https:// URL' });
  });

export type HomeAssistantConfig = z.infer<typeof HomeAssistantConfig>;

/** Config paths that hold secrets: write-only in the API, never logged. */
export const homeAssistantSecrets = ['token'] as const;
