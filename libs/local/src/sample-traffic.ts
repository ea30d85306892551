import type { Meter } from '@meterline/producer';
import type { Logger } from '@meterline/platform';
import { pricedSampleModels, usageGenerator } from './usage-generator';

/**
 * Sample services recording through the shim: several tenants, providers and models, cache
 * hits, reasoning and a few errors, on priced models only (a healthy start warns of nothing).
 */
export function startSampleTraffic(meter: Meter, eventsPerSecond: number, log: Logger): { stop(): Promise<void> } {
  const next = usageGenerator({ seed: Date.now() % 2 ** 31, idPrefix: `sample-${Date.now().toString(36)}`, models: pricedSampleModels });
  const tickMs = 100;
  const perTick = Math.max(1, Math.round((eventsPerSecond * tickMs) / 1_000));
  let rejected = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) {
      const { event_id: _drop, api_key_hash: _hash, ...event } = next();
      try {
        // Services pass the raw key; the shim hashes it before anything leaves the process.
        meter.record({ ...event, api_key: `sk-sample-${event.tenant_id}-${i % 3}` });
      } catch (error) {
        rejected++;
        if (rejected <= 3) log.warn({ err: error instanceof Error ? error.message : String(error) }, 'sample traffic: record() rejected an event');
      }
    }
  }, tickMs);
  log.info({ eventsPerSecond }, 'sample traffic started');
  return {
    stop: () => {
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}
