// The MQTT connector's configuration (the `config` of a connector of kind
// `mqtt`), checked when it is created or changed through the API or YAML.

import { z } from 'zod';
import { parseTopicPattern } from './topic.js';

const Path = z.string().min(1).max(256).regex(/^[^.]+(\.[^.]+)*$/, 'a dot path such as "a.b" or "list.0.value"');

const Topic = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((t, ctx) => {
    try {
      parseTopicPattern(t);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

// QoS 2 is not offered: the client library keeps a QoS 2 message in memory between PUBREC and
// PUBREL, so a crash there loses it. QoS 1 acknowledged once stored, with VictoriaMetrics'
// deduplication, gives what QoS 2 promises (docs/guarantees.md).
const Qos = z.union([z.literal(0), z.literal(1)], { error: 'qos is 0 or 1 (QoS 1 messages are acknowledged once stored)' });

export const Subscription = z
  .object({
    topic: Topic.describe('An MQTT topic filter; a level may be a capture, {name}, that becomes a label (plant/{site}/{device}/#). zigbee2mqtt: the base topic (zigbee2mqtt).'),
    format: z.enum(['influx', 'json', 'msgpack', 'value', 'zigbee2mqtt']),
    qos: Qos.optional().describe('Overrides the connector qos for this subscription.'),
    measurement: z.string().min(1).max(200).optional().describe('json, msgpack, value: the sample name (prefix), may hold captures such as {device}; default mqtt.'),
    fields: z.record(z.string().min(1).max(200), Path).optional().describe('json, msgpack: field name → path; default every number and boolean.'),
    tags: z.record(z.string().min(1).max(200), Path).optional().describe('json, msgpack: label name → path of its value.'),
    time: z.object({ path: Path, unit: z.enum(['s', 'ms', 'us', 'ns', 'iso']) }).strict().optional().describe('json, msgpack: where the timestamp is and its unit; default the arrival time.'),
  })
  .strict()
  .superRefine((s, ctx) => {
    const mapping = s.fields !== undefined || s.tags !== undefined || s.time !== undefined;
    if (mapping && s.format !== 'json' && s.format !== 'msgpack') ctx.addIssue({ code: 'custom', path: ['format'], message: 'fields, tags and time apply to json and msgpack only' });
    if (s.measurement !== undefined && s.format === 'influx') ctx.addIssue({ code: 'custom', path: ['measurement'], message: 'measurement does not apply to influx (line protocol names its own)' });
    if (s.format === 'zigbee2mqtt') {
      if (s.measurement !== undefined) ctx.addIssue({ code: 'custom', path: ['measurement'], message: 'zigbee2mqtt samples are named zigbee_<property>' });
      if (s.topic.split('/').includes('#')) ctx.addIssue({ code: 'custom', path: ['topic'], message: 'zigbee2mqtt: the topic is the base topic (zigbee2mqtt), without #: everything under it is read' });
    }
  });

export const MqttConfig = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((u) => /^mqtts?:\/\/[^/\s]+/.test(u), 'an mqtt:// or mqtts:// URL')
      .refine((u) => !/^mqtts?:\/\/[^/@]*@/.test(u), 'no credentials in the URL: use username and password (the URL is shown, the password never)'),
    username: z.string().max(1024).optional(),
    password: z.string().max(4096).optional().describe('Write-only: never returned.'),
    clientId: z.string().min(1).max(256).optional().describe('Default sentio-<connector name>; the broker keeps the session under it.'),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).optional().describe('4: MQTT 3.1.1 (default), 5: MQTT 5.'),
    qos: Qos.optional().describe('Default 1: each message acknowledged once stored.'),
    keepaliveSeconds: z.number().int().min(5).max(3600).optional(),
    sessionExpirySeconds: z.number().int().min(0).max(4294967295).optional().describe('MQTT 5: how long the broker keeps the session while disconnected (default 1 day).'),
    tls: z
      .object({
        ca: z.string().max(65536).optional().describe('PEM: the CA that signed the broker certificate.'),
        cert: z.string().max(65536).optional().describe('PEM: a client certificate.'),
        key: z.string().max(65536).optional().describe('PEM: the client key. Write-only.'),
        rejectUnauthorized: z.boolean().optional(),
        servername: z.string().max(253).optional(),
      })
      .strict()
      .optional(),
    subscriptions: z.array(Subscription).min(1).max(256),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.tls !== undefined && !c.url.startsWith('mqtts://')) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls settings need an mqtts:// URL' });
    if ((c.tls?.cert === undefined) !== (c.tls?.key === undefined)) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'a client certificate needs its key, and a key its certificate' });
    if (c.sessionExpirySeconds !== undefined && c.protocolVersion !== 5) ctx.addIssue({ code: 'custom', path: ['sessionExpirySeconds'], message: 'sessionExpirySeconds is MQTT 5 (protocolVersion 5)' });
    if (c.password !== undefined && c.username === undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: 'a password needs a username' });
  });

export type MqttConfig = z.infer<typeof MqttConfig>;
export type Subscription = z.infer<typeof Subscription>;

/** Config paths that hold secrets: write-only in the API, never logged. */
export const mqttSecrets = ['password', 'tls.key'] as const;
