import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it, vi } from 'vitest';
import { usageEventCodec } from '@meterline/contract';
import { createKafka, ensureTopics, rawPathTopics } from '@meterline/kafka';
import { fleetConfigSchema } from '@meterline/platform';
import { freePort, pricedSampleModels, startRedis, uniqueIdentifier, uniqueName, usageGenerator, waitFor } from '@meterline/testing';
import { spawnApp } from './support/child-app';
import { readTopic } from './support/read-topic';
import { testLog } from './support/raw-path';
import { shippedPricingDir } from './support/stream';

// The chaos suite's first finding: POST /v1/events answered 202 while the accepted events were
// still in the API process's memory (the shim sends them a moment later), so a kill -9 right
// after the answer lost them. The answer now waits until they are in Kafka or the spool.
vi.setConfig({ testTimeout: 240_000 });

const brokers = inject('kafkaBrokers');

it('POST /v1/events: every event of a 202 is in Kafka when the API process is SIGKILLed right after the answer', async () => {
  const redis = await startRedis();
  const topic = uniqueName('durable-events');
  const apiPort = await freePort();
  const env: Record<string, string> = {
    KAFKA_BROKERS: brokers.join(','),
    REDIS_URL: redis.url,
    METERLINE_CHDB_PATH: mkdtempSync(join(tmpdir(), 'meterline-durable-chdb-')),
    CLICKHOUSE_DATABASE: uniqueIdentifier('durable'),
    METERLINE_TOPIC_USAGE_EVENTS: topic,
    METERLINE_USAGE_EVENTS_PARTITIONS: '2',
    METERLINE_TOPIC_API_KEYS: `${topic}-keys`,
    METERLINE_TOPIC_QUOTA_DEFINITIONS: `${topic}-quotas`,
    METERLINE_TOPIC_QUOTA_ALERTS: `${topic}-alerts`,
    METERLINE_TOPIC_PRICING_ALERTS: `${topic}-pricing-alerts`,
    METERLINE_TOPIC_USAGE_ROLLUPS: `${topic}-rollups`,
    METERLINE_PRICING_DIR: shippedPricingDir,
    METERLINE_HTTP_PORT: String(apiPort),
    METERLINE_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'meterline-durable-spool-')),
    LOG_LEVEL: 'warn',
  };
  const kafka = createKafka({ brokers, clientId: 'durable-test' }, testLog);
  await ensureTopics(kafka, rawPathTopics(fleetConfigSchema.parse(env).topics), testLog);
  const keys = await spawnApp('apps/cli/src/main.ts', ['keys', 'create', '--name', 'durable', '--scopes', 'events:write', '--json'], env, 'keys');
  expect((await keys.exited).code).toBe(0);
  const token = (JSON.parse(keys.outputTail().trim().split('\n').at(-1)!) as { token: string }).token;
  const api = await spawnApp('apps/cli/src/main.ts', ['api'], env, 'api');
  try {
    await waitFor(() => fetch(`http://127.0.0.1:${apiPort}/readyz`).then((r) => r.status).catch(() => 0), (s) => s === 200, { what: 'api ready', timeoutMs: 120_000, intervalMs: 200 });
    const next = usageGenerator({ seed: 77, tenants: ['durable-a', 'durable-b'], models: pricedSampleModels, idPrefix: uniqueName('durable') });
    const accepted: string[] = [];
    for (let round = 0; round < 10; round++) {
      const batch = Array.from({ length: 200 }, () => {
        const { api_key_hash: _hash, ...record } = next();
        return record;
      });
      const response = await fetch(`http://127.0.0.1:${apiPort}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(batch) });
      expect(response.status).toBe(202);
      accepted.push(...((await response.json()) as { accepted: string[] }).accepted);
    }
    // The crash comes as soon as the last answer is in: no drain, no flush on the way out.
    const exit = await api.kill();
    expect(exit.signal).toBe('SIGKILL');
    const codec = usageEventCodec();
    const inKafka = new Set((await readTopic(kafka, topic)).map((m) => codec.decode(m.value!).event_id));
    expect(accepted.filter((id) => !inKafka.has(id))).toEqual([]);
    expect(inKafka.size).toBe(2_000);
  } finally {
    if (api.isRunning()) await api.kill();
    await redis.stop();
  }
});
