import { z } from 'zod';
import { parseDurationMs } from './config';

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (e.g. 500ms, 10s, 5m, 24h, 90d)` });
        return z.NEVER;
      }
      return ms;
    });

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const brokerList = z
  .string()
  .default('127.0.0.1:9092')
  .transform((text, ctx) => {
    const brokers = text.split(',').map((b) => b.trim()).filter((b) => b.length > 0);
    const bad = brokers.filter((b) => !/^[^:\s]+:\d{1,5}$/.test(b));
    if (brokers.length === 0 || bad.length > 0) {
      ctx.addIssue({ code: 'custom', message: `expected host:port[,host:port...], got "${text}"` });
      return z.NEVER;
    }
    return brokers;
  });

/**
 * Every setting of the fleet, read from the environment once. The README's configuration
 * table lists these names; keep the two in step.
 */
export const fleetConfigSchema = z
  .object({
    KAFKA_BROKERS: brokerList,
    KAFKA_CLIENT_ID: z.string().min(1).default('meterline'),
    METERLINE_TOPIC_USAGE_EVENTS: z.string().min(1).default('usage-events'),
    METERLINE_TOPIC_DLQ: z.string().min(1).optional(),
    METERLINE_USAGE_EVENTS_PARTITIONS: positiveInt(12),
    METERLINE_SINK_GROUP: z.string().min(1).default('meterline-clickhouse-sink'),
    METERLINE_TOPIC_USAGE_ROLLUPS: z.string().min(1).default('usage-rollups'),
    METERLINE_TOPIC_QUOTA_ALERTS: z.string().min(1).default('quota-alerts'),
    METERLINE_TOPIC_QUOTA_DEFINITIONS: z.string().min(1).default('quota-definitions'),
    METERLINE_TOPIC_PRICING_ALERTS: z.string().min(1).default('pricing-alerts'),
    METERLINE_PRICING_DIR: z.string().min(1).default('pricing'),
    METERLINE_TOPIC_INVOICES: z.string().min(1).default('invoices'),
    METERLINE_TOPIC_INVOICE_ALERTS: z.string().min(1).default('invoice-alerts'),
    METERLINE_TOPIC_API_KEYS: z.string().min(1).default('api-keys'),
    METERLINE_INVOICE_QUEUE: z.string().regex(/^[^:\s]+$/, 'must not contain ":" or spaces (BullMQ queue name)').default('meterline-invoices'),
    METERLINE_INVOICE_CRON: z
      .string()
      .default('0 2 1 * *')
      .refine((text) => /^\S+(\s+\S+){4,5}$/.test(text.trim()), 'expected a cron pattern of 5 fields (or 6 with seconds), e.g. "0 2 1 * *"'),
    METERLINE_INVOICE_TZ: z
      .string()
      .default('UTC')
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'is not an IANA time zone (e.g. UTC, Europe/Paris)'),
    METERLINE_INVOICE_DIR: z.string().min(1).default('.data/invoices'),
    METERLINE_INVOICE_CONCURRENCY: positiveInt(256),
    METERLINE_INVOICE_ATTEMPTS: positiveInt(5),
    METERLINE_INVOICE_CATCH_UP_TIMEOUT: duration('30m'),
    METERLINE_INVOICE_STALLED_INTERVAL: duration('30s'),
    METERLINE_INVOICE_CLOCK: z.iso.datetime({ offset: true }).optional(),
    METERLINE_ROLLUP_GROUP: z.string().min(1).default('meterline-rollup-consumer'),
    METERLINE_ROLLUP_SINK_GROUP: z.string().min(1).default('meterline-clickhouse-sink-rollups'),
    METERLINE_ALERTS_SINK_GROUP: z.string().min(1).default('meterline-clickhouse-sink-alerts'),
    METERLINE_TOPIC_ALERTS_DLQ: z.string().min(1).default('alerts.dlq'),
    METERLINE_ALLOWED_LATENESS: duration('2h'),
    METERLINE_DEDUP_WINDOW: duration('24h'),
    METERLINE_SINK_FLUSH_ROWS: positiveInt(10_000),
    METERLINE_SINK_FLUSH_MS: duration('500ms'),
    METERLINE_SINK_REJECTED_ROWS: z.enum(['dead-letter', 'halt']).default('dead-letter'),
    METERLINE_DAY_SEAL_INTERVAL: duration('1m'),
    CLICKHOUSE_URL: z.url().optional(),
    CLICKHOUSE_USER: z.string().optional(),
    CLICKHOUSE_PASSWORD: z.string().optional(),
    CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').default('meterline'),
    METERLINE_CHDB_PATH: z.string().min(1).default('.data/chdb'),
    // A ClickHouse server's answer may take this long (a state rebuild's reads, large inserts).
    METERLINE_CLICKHOUSE_REQUEST_TIMEOUT: duration('5m'),
    METERLINE_RAW_TTL_MONTHS: positiveInt(36),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').default('redis://127.0.0.1:6379'),
    METERLINE_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    METERLINE_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8787),
    METERLINE_RATE_LIMIT: z.coerce.number().int().min(0).default(6_000),
    METERLINE_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
    METERLINE_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    METERLINE_EVENT_MAX_PAST: duration('90d'),
    METERLINE_EVENT_MAX_FUTURE: duration('10m'),
    METERLINE_SPOOL_DIR: z.string().min(1).default('.data/spool'),
    METERLINE_API_KEY_PEPPER: z.string().optional(),
    METERLINE_API_KEY: z.string().optional(),
    METERLINE_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters (it signs tenant read tokens)').optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    METERLINE_LOG_FORMAT: z.enum(['json', 'pretty', 'auto']).default('auto'),
  })
  .transform((env) => ({
    kafka: {
      brokers: env.KAFKA_BROKERS,
      clientId: env.KAFKA_CLIENT_ID,
    },
    topics: {
      usageEvents: env.METERLINE_TOPIC_USAGE_EVENTS,
      usageEventsDlq: env.METERLINE_TOPIC_DLQ ?? `${env.METERLINE_TOPIC_USAGE_EVENTS}.dlq`,
      usageEventsPartitions: env.METERLINE_USAGE_EVENTS_PARTITIONS,
      usageRollups: env.METERLINE_TOPIC_USAGE_ROLLUPS,
      quotaAlerts: env.METERLINE_TOPIC_QUOTA_ALERTS,
      quotaDefinitions: env.METERLINE_TOPIC_QUOTA_DEFINITIONS,
      pricingAlerts: env.METERLINE_TOPIC_PRICING_ALERTS,
      invoices: env.METERLINE_TOPIC_INVOICES,
      invoiceAlerts: env.METERLINE_TOPIC_INVOICE_ALERTS,
      apiKeys: env.METERLINE_TOPIC_API_KEYS,
      /** Alert records the alert history cannot read (from any of the three alert topics). */
      alertsDlq: env.METERLINE_TOPIC_ALERTS_DLQ,
    },
    invoices: {
      queue: env.METERLINE_INVOICE_QUEUE,
      cron: env.METERLINE_INVOICE_CRON.trim(),
      timeZone: env.METERLINE_INVOICE_TZ,
      dir: env.METERLINE_INVOICE_DIR,
      concurrency: env.METERLINE_INVOICE_CONCURRENCY,
      attempts: env.METERLINE_INVOICE_ATTEMPTS,
      catchUpTimeoutMs: env.METERLINE_INVOICE_CATCH_UP_TIMEOUT,
      stalledIntervalMs: env.METERLINE_INVOICE_STALLED_INTERVAL,
      /** Pins the clock the invoice jobs read (tests; re-running a past month "as of" a time). */
      pinnedClockMs: env.METERLINE_INVOICE_CLOCK === undefined ? undefined : Date.parse(env.METERLINE_INVOICE_CLOCK),
    },
    pricing: { dir: env.METERLINE_PRICING_DIR },
    rollups: {
      groupId: env.METERLINE_ROLLUP_GROUP,
      sinkGroupId: env.METERLINE_ROLLUP_SINK_GROUP,
      allowedLatenessMs: env.METERLINE_ALLOWED_LATENESS,
      dedupWindowSeconds: Math.ceil(env.METERLINE_DEDUP_WINDOW / 1000),
    },
    sink: {
      groupId: env.METERLINE_SINK_GROUP,
      /** The group writing the three alert topics into the alert history. */
      alertsGroupId: env.METERLINE_ALERTS_SINK_GROUP,
      flushRows: env.METERLINE_SINK_FLUSH_ROWS,
      flushMs: env.METERLINE_SINK_FLUSH_MS,
      /** Rows ClickHouse rejects at insert: dead-lettered with the reason, or the sink halts. */
      rejectedRows: env.METERLINE_SINK_REJECTED_ROWS,
      /** How often the sink seals finished days into the daily rollups (0: never). */
      daySealIntervalMs: env.METERLINE_DAY_SEAL_INTERVAL,
    },
    clickhouse: {
      url: env.CLICKHOUSE_URL,
      username: env.CLICKHOUSE_USER,
      password: env.CLICKHOUSE_PASSWORD,
      database: env.CLICKHOUSE_DATABASE,
      chdbPath: env.METERLINE_CHDB_PATH,
      requestTimeoutMs: env.METERLINE_CLICKHOUSE_REQUEST_TIMEOUT,
      rawTtlMonths: env.METERLINE_RAW_TTL_MONTHS,
    },
    redis: { url: env.REDIS_URL },
    /** Requests per minute per API key (0: no limit). */
    http: { host: env.METERLINE_HTTP_HOST, port: env.METERLINE_HTTP_PORT, rateLimitPerMinute: env.METERLINE_RATE_LIMIT },
    /** A worker's /livez and /readyz listener; unset: the app's default port, 0: none. */
    health: { host: env.METERLINE_HEALTH_HOST, port: env.METERLINE_HEALTH_PORT },
    events: { maxPastMs: env.METERLINE_EVENT_MAX_PAST, maxFutureMs: env.METERLINE_EVENT_MAX_FUTURE },
    producer: { spoolDir: env.METERLINE_SPOOL_DIR, apiKeyPepper: env.METERLINE_API_KEY_PEPPER },
    /** meterline's own API keys: hashed with the same pepper; tenant read tokens signed with the secret. */
    access: { pepper: env.METERLINE_API_KEY_PEPPER ?? '', tokenSecret: env.METERLINE_TOKEN_SECRET },
    /** The key the CLI sends to a running API (unset: the local fleet's `.data/admin-key`). */
    cli: { apiKey: env.METERLINE_API_KEY },
    log: { level: env.LOG_LEVEL, format: env.METERLINE_LOG_FORMAT },
  }));

export type FleetConfig = z.infer<typeof fleetConfigSchema>;
