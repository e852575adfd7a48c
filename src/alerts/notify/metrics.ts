// The notification metrics, shared by every channel on one registry (got
// when already registered: many channels, one set of metrics).

import client, { type Registry } from 'prom-client';

export interface NotifyMetrics {
  notifications: client.Counter<'channel' | 'kind' | 'outcome'>;
  attempts: client.Counter<'channel' | 'kind' | 'outcome'>;
  seconds: client.Histogram<'kind'>;
}

function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function notifyMetrics(registry: Registry): NotifyMetrics {
  return {
    notifications: getOrCreate(registry, 'sentio_alert_notifications_total', () => new client.Counter({
      name: 'sentio_alert_notifications_total',
      help: 'Alert notifications by channel and outcome (sent, failed after its retries).',
      labelNames: ['channel', 'kind', 'outcome'] as const,
      registers: [registry],
    })),
    attempts: getOrCreate(registry, 'sentio_alert_notification_attempts_total', () => new client.Counter({
      name: 'sentio_alert_notification_attempts_total',
      help: 'Delivery attempts of alert notifications (outcome: sent, retry, failed).',
      labelNames: ['channel', 'kind', 'outcome'] as const,
      registers: [registry],
    })),
    seconds: getOrCreate(registry, 'sentio_alert_notification_seconds', () => new client.Histogram({
      name: 'sentio_alert_notification_seconds',
      help: 'Time to deliver (or give up on) one alert notification, retries included.',
      labelNames: ['kind'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120],
      registers: [registry],
    })),
  };
}
