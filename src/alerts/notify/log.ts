// The log channel: one structured line per notification, at warn while the
// group fires and at info once it resolved. Carries no secret (it has none).

import type { Logger } from '../../log/index.js';
import type { Notification } from '../types.js';

export function logNotification(log: Logger, channel: string, n: Notification): void {
  const fields = {
    component: 'alerts',
    channel,
    status: n.status,
    groupKey: n.groupKey,
    rule: n.rule,
    groupLabels: n.groupLabels,
    alerts: n.alerts.map((a) => ({ fingerprint: a.fingerprint, state: a.state, labels: a.labels, annotations: a.annotations, value: a.value, activeAt: a.activeAt, firedAt: a.firedAt, resolvedAt: a.resolvedAt })),
    sentAt: n.sentAt,
  };
  const msg = `alert ${n.rule.name} ${n.status} (${n.alerts.length} alert${n.alerts.length === 1 ? '' : 's'})`;
  if (n.status === 'firing') log.pino.warn(fields, msg);
  else log.pino.info(fields, msg);
}
