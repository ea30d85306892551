import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { Redis } from 'ioredis';
import { classifyError, statusClass, type UsageEvent } from '@meterline/domain';
import { ClickHouseSink, usageRollupsStream } from '@meterline/clickhouse-sink';
import { UsageRollupsTable, migrate, type ClickHouseHandle, type UsageRollupRow } from '@meterline/clickhouse';
import { quotaAlertCodec, type QuotaAlertRecord } from '@meterline/contract';
import { consumerGroupLag, createKafka, ensureTopics, streamTopics } from '@meterline/kafka';
import { createMeter, type Meter } from '@meterline/producer';
import { PriceBookStore } from '@meterline/pricing';
import { QuotaBook, QuotaStore } from '@meterline/quotas';
import { withScripts, type ScriptedRedis } from '@meterline/redis';
import { RollupConsumer, rebuildStreamState, type RollupConsumerConfig } from '@meterline/rollup-consumer';
import { seededRandom, startRedis, uniqueIdentifier, uniqueName, usageGenerator, type RedisServer } from '@meterline/testing';
import { chdbForThisFile, testLog } from './raw-path';
import { readTopic } from './read-topic';

export const HOUR = 3_600_000;
export const ALLOWED_LATENESS_MS = 2 * HOUR;

/**
 * Traffic over 48 hours of event time, in arrival order: most events arrive in time order,
 * `lateShare` arrive up to 3 hours (of event time) late, `duplicateShare` arrive a second time
 * with the same event_id later on. `distinct` is what must be counted.
 */
export function generateStream(options: { events: number; tenants: readonly string[]; seed: number; lateShare?: number; duplicateShare?: number; endMs?: number }): { arrivals: UsageEvent[]; distinct: UsageEvent[] } {
  const random = seededRandom(options.seed);
  const end = options.endMs ?? Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  const start = end - 48 * HOUR;
  let i = 0;
  const next = usageGenerator({ seed: options.seed, tenants: options.tenants, idPrefix: `s${options.seed}`, occurredAt: () => start + Math.floor(((i + random()) / options.events) * 48 * HOUR) });
  const keyed: { at: number; event: UsageEvent }[] = [];
  const distinct: UsageEvent[] = [];
  for (i = 0; i < options.events; i++) {
    const event = next();
    distinct.push(event);
    const late = random() < (options.lateShare ?? 0.05);
    keyed.push({ at: event.occurred_at + (late ? Math.floor(random() * 3 * HOUR) + 1 : 0), event });
    if (random() < (options.duplicateShare ?? 0.02)) keyed.push({ at: event.occurred_at + Math.floor(random() * 6 * HOUR), event });
  }
  keyed.sort((a, b) => a.at - b.at);
  return { arrivals: keyed.map((k) => k.event), distinct };
}

export interface HourlyReference {
  key: string;
  requests: number;
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  errors: number;
  errors_by_class: Record<string, number>;
  requests_by_status_class: Record<string, number>;
  latency_ms_sum: number;
  latency_ms_max: number;
  latency_count: number;
  ttft_ms_sum: number;
  ttft_ms_max: number;
  ttft_count: number;
}

/** Independent reference: per (tenant, hour, dimensions) sums of the distinct events. */
export function hourlyReference(events: readonly UsageEvent[]): Map<string, HourlyReference> {
  const out = new Map<string, HourlyReference>();
  for (const e of events) {
    const hour = new Date(Math.floor(e.occurred_at / HOUR) * HOUR).toISOString().replace('T', ' ').slice(0, 19);
    const key = [e.tenant_id, hour, e.project_id ?? '', e.provider, e.model, e.operation].join('|');
    let r = out.get(key);
    if (!r) out.set(key, (r = { key, requests: 0, input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, errors: 0, errors_by_class: {}, requests_by_status_class: {}, latency_ms_sum: 0, latency_ms_max: 0, latency_count: 0, ttft_ms_sum: 0, ttft_ms_max: 0, ttft_count: 0 }));
    r.requests++;
    r.input_tokens += e.input_tokens;
    r.cache_read_tokens += e.cache_read_tokens;
    r.cache_write_tokens += e.cache_write_tokens;
    r.output_tokens += e.output_tokens;
    r.reasoning_tokens += e.reasoning_tokens;
    if (e.error_type !== null || (e.status_code ?? 200) >= 400) r.errors++;
    // Which class an error or status is in is the domain's rule; the reference only counts them.
    const errorClass = classifyError(e.error_type, e.status_code);
    if (errorClass !== null) r.errors_by_class[errorClass] = (r.errors_by_class[errorClass] ?? 0) + 1;
    const status = statusClass(e.status_code);
    r.requests_by_status_class[status] = (r.requests_by_status_class[status] ?? 0) + 1;
    if (e.latency_ms !== null) {
      r.latency_ms_sum += e.latency_ms;
      r.latency_ms_max = Math.max(r.latency_ms_max, e.latency_ms);
      r.latency_count++;
    }
    if (e.ttft_ms !== null) {
      r.ttft_ms_sum += e.ttft_ms;
      r.ttft_ms_max = Math.max(r.ttft_ms_max, e.ttft_ms);
      r.ttft_count++;
    }
  }
  return out;
}

export function totalTokensOf(e: UsageEvent): bigint {
  return BigInt(e.input_tokens + e.cache_read_tokens + e.cache_write_tokens + e.output_tokens + e.reasoning_tokens);
}

export interface StreamRig {
  kafka: Kafka;
  brokers: string[];
  topics: { usageEvents: string; usageEventsPartitions: number; usageRollups: string; quotaAlerts: string; quotaDefinitions: string; pricingAlerts: string };
  groupId: string;
  /** The group startRollupSink uses by default (the rebuild waits for it). */
  rollupSinkGroupId: string;
  redisServer: RedisServer;
  redis: ScriptedRedis;
  handle: ClickHouseHandle;
  rollups: UsageRollupsTable;
  quotaStore: QuotaStore;
  meter: Meter;
  consumerConfig: RollupConsumerConfig;
  /** This rig's copy of the price files, and the books the in-process consumers price with. */
  pricingDir: string;
  prices: PriceBookStore;
  startConsumer(rawSinkGroupId?: string): Promise<RollupConsumer>;
  startRollupSink(groupId?: string): Promise<ClickHouseSink<UsageRollupRow>>;
  /** Env for running apps/rollup-consumer/src/main.ts as its own process on this rig. */
  childEnv(): Record<string, string>;
  groupLag(groupId: string, topic: string): Promise<number>;
  readAlerts(): Promise<QuotaAlertRecord[]>;
  close(): Promise<void>;
}

/** The repository's shipped price files (pricing/). */
export const shippedPricingDir = new URL('../../pricing', import.meta.url).pathname;

export async function streamRig(brokers: string[], partitions = 6, options: { pricingDir?: string; handle?: ClickHouseHandle } = {}): Promise<StreamRig> {
  // A copy: a test may edit its prices (re-rating) without touching the repository's files.
  const pricingDir = mkdtempSync(join(tmpdir(), 'meterline-pricing-'));
  cpSync(options.pricingDir ?? shippedPricingDir, pricingDir, { recursive: true });
  const prices = new PriceBookStore(pricingDir, testLog);
  const kafka = createKafka({ brokers, clientId: 'stream-test' }, testLog);
  const base = uniqueName('usage-events');
  const topics = { usageEvents: base, usageEventsPartitions: partitions, usageRollups: `${base}-rollups`, quotaAlerts: `${base}-alerts`, quotaDefinitions: `${base}-quotas`, pricingAlerts: `${base}-pricing-alerts` };
  await ensureTopics(kafka, [{ topic: topics.usageEvents, numPartitions: partitions }, ...streamTopics(topics)], testLog);
  const redisServer = await startRedis();
  const redis = withScripts(new Redis(redisServer.url));
  redis.on('error', () => undefined); // reconnects (e.g. across a Redis restart) are expected
  const handle: ClickHouseHandle = options.handle ?? { ...chdbForThisFile(), database: uniqueIdentifier('stream') };
  await migrate(handle, testLog);
  const rollups = new UsageRollupsTable(handle);
  const quotaStore = new QuotaStore(kafka, topics.quotaDefinitions, testLog);
  const meter = createMeter({ kafka, topic: topics.usageEvents, spoolDir: mkdtempSync(join(tmpdir(), 'meterline-spool-')), log: testLog, batchSize: 5_000 });
  const groupId = uniqueName('rollups');
  const rollupSinkGroupId = `${groupId}-sink`;
  const consumerConfig: RollupConsumerConfig = {
    groupId,
    topic: topics.usageEvents,
    rollupsTopic: topics.usageRollups,
    alertsTopic: topics.quotaAlerts,
    pricingAlertsTopic: topics.pricingAlerts,
    allowedLatenessMs: ALLOWED_LATENESS_MS,
    dedupWindowSeconds: 86_400,
    sessionTimeoutMs: 10_000,
  };
  const stops: (() => Promise<void>)[] = [];
  const rig: StreamRig = {
    kafka, brokers, topics, groupId, rollupSinkGroupId, redisServer, redis, handle, rollups, quotaStore, meter, consumerConfig, pricingDir, prices,
    async startConsumer(rawSinkGroupId?: string) {
      const book = new QuotaBook(kafka, topics.quotaDefinitions, redis, testLog);
      await book.start();
      const consumer = new RollupConsumer(kafka, redis, book, prices, {
        ...consumerConfig,
        rebuildState: async () => {
          await rebuildStreamState({
            kafka, redis, clickhouse: handle, log: testLog, topic: topics.usageEvents, groupId, rawSinkGroupId: rawSinkGroupId ?? 'none', alertsTopic: topics.quotaAlerts,
            rollupsTopic: topics.usageRollups, rollupSinkGroupId,
            allowedLatenessMs: ALLOWED_LATENESS_MS, dedupWindowSeconds: 86_400, quotas: () => book.all(), price: (event) => prices.price(event),
          });
          await book.mirrorAll();
        },
      }, testLog);
      await consumer.start();
      stops.push(() => consumer.stop(), () => book.stop());
      return consumer;
    },
    async startRollupSink(groupId?: string) {
      const sink = new ClickHouseSink(kafka, usageRollupsStream(rollups), { groupId: groupId ?? rollupSinkGroupId, topic: topics.usageRollups, dlqTopic: `${topics.usageRollups}.dlq`, flushRows: 5_000, flushMs: 200, sessionTimeoutMs: 10_000 }, testLog);
      await sink.start();
      stops.push(() => sink.stop());
      return sink;
    },
    childEnv() {
      return {
        KAFKA_BROKERS: brokers.join(','),
        REDIS_URL: redisServer.url,
        METERLINE_TOPIC_USAGE_EVENTS: topics.usageEvents,
        METERLINE_USAGE_EVENTS_PARTITIONS: String(partitions),
        METERLINE_TOPIC_USAGE_ROLLUPS: topics.usageRollups,
        METERLINE_TOPIC_QUOTA_ALERTS: topics.quotaAlerts,
        METERLINE_TOPIC_QUOTA_DEFINITIONS: topics.quotaDefinitions,
        METERLINE_TOPIC_PRICING_ALERTS: topics.pricingAlerts,
        METERLINE_PRICING_DIR: pricingDir,
        METERLINE_ROLLUP_GROUP: groupId,
        METERLINE_ROLLUP_SINK_GROUP: rollupSinkGroupId,
        METERLINE_ALLOWED_LATENESS: `${ALLOWED_LATENESS_MS}ms`,
        // The child's own embedded ClickHouse (read only for a state rebuild).
        METERLINE_CHDB_PATH: mkdtempSync(join(tmpdir(), 'meterline-rollup-chdb-')),
      };
    },
    groupLag: (group, topic) => consumerGroupLag(kafka, group, topic),
    async readAlerts() {
      const codec = quotaAlertCodec();
      return (await readTopic(kafka, topics.quotaAlerts)).map((m) => codec.decode(m.value!));
    },
    async close() {
      await meter.close();
      for (const stop of stops.reverse()) await stop();
      await quotaStore.close();
      await redis.quit();
      await redisServer.stop();
    },
  };
  return rig;
}
