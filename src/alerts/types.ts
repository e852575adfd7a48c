// The shapes shared by alert evaluation (src/alerts/evaluator.ts), the
// notification channels (src/alerts/notify/) and the API.
//
// An alert is one series (one label set) of one rule. Its fingerprint is a
// stable hash of its labels. Alerts of a rule are grouped by the rule's
// `groupBy` labels; a notification is about one group: the group's firing
// alerts, and those that resolved since the group's last notification.

export type AlertState = 'pending' | 'firing' | 'resolved';

export interface AlertInstance {
  ruleId: string;
  /** Hex hash of `labels` (stable across instances and restarts). */
  fingerprint: string;
  /** The rule's labels, the series' labels and `alertname` (the rule's name). */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: AlertState;
  /** The value that made the condition hold (the score, the seconds of silence, the seconds to the threshold...); last seen. */
  value: number;
  /** When the condition started to hold (ISO-8601). */
  activeAt: string;
  firedAt: string | null;
  resolvedAt: string | null;
}

export interface Notification {
  /** 'firing' while any alert of the group fires; 'resolved' once none does. */
  status: 'firing' | 'resolved';
  /** Identifies the group: the rule id and the group labels, hashed. */
  groupKey: string;
  rule: { id: string; name: string; severity: 'info' | 'warning' | 'critical' };
  /** The values of the rule's groupBy labels shared by the group's alerts. */
  groupLabels: Record<string, string>;
  /** Firing alerts, then those resolved since the last notification of the group. */
  alerts: AlertInstance[];
  /** When it was built (ISO-8601). */
  sentAt: string;
}

/** A notification channel's settings, as stored (secrets included: the API never returns them). */
export type ChannelConfig =
  | {
      kind: 'webhook';
      url: string;
      /** HMAC-SHA256 key: when set, each request is signed. */
      secret?: string;
      /** Per attempt (default 10 s). */
      timeoutMs?: number;
      /** Attempts after the first (default 5), with exponential backoff and jitter. */
      retries?: number;
      headers?: Record<string, string>;
    }
  | {
      kind: 'mqtt';
      /** mqtt://, mqtts://, ws:// or wss:// broker URL. */
      url: string;
      /** May contain {rule}, {status} and {groupKey}. */
      topic: string;
      qos?: 0 | 1 | 2;
      retain?: boolean;
      username?: string;
      password?: string;
      /** Bound on one publish: connecting and, at QoS >= 1, the broker's acknowledgement (default 10 s). */
      timeoutMs?: number;
    }
  | { kind: 'log' };

export type ChannelKind = ChannelConfig['kind'];
