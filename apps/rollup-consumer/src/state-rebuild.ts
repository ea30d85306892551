import type { Kafka } from 'kafkajs';
import { MAX_QUOTA_LIMIT, classifyError, hourStart, matchesQuota, millisToMicros, quotaAmount, quotaPeriod, statusClass, type EventMoney, type QuotaDefinition, type TokenBucket, type UsageEvent } from '@meterline/domain';
import { quoteIdentifier, type ClickHouseHandle } from '@meterline/clickhouse';
import { KEY_ROOT, execChecked, redisKeys, tenantPrefix, type ScriptedRedis } from '@meterline/redis';
import { sleep, type Logger } from '@meterline/platform';
import { COUNTER_GRACE_MS, eventIdHash, splitPico, thresholdTrigger } from './plan-batch';
import { readAlertsSince } from './published-alerts';

export interface RebuildDeps {
  kafka: Kafka;
  redis: ScriptedRedis;
  clickhouse: ClickHouseHandle;
  log: Logger;
  topic: string;
  groupId: string;
  /** The raw sink's group: ClickHouse holds every event below its committed offsets. */
  rawSinkGroupId: string;
  /** Alerts already published (read back so no threshold alerts twice after the rebuild). */
  alertsTopic?: string;
  allowedLatenessMs: number;
  dedupWindowSeconds: number;
  quotas: () => QuotaDefinition[];
  /** Prices the rebuilt events (money quotas and open rollups): the books in force now. */
  price: (event: UsageEvent) => EventMoney;
  clock?: () => number;
}

const HOUR = 3_600_000;

async function committedOffsets(kafka: Kafka, groupId: string, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const partitions = await admin.fetchTopicOffsets(topic);
    return new Map(partitions.map(({ partition }) => [partition, BigInt(committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1')]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Rebuilds the stream state after Redis lost it, exactly: the rollup group's committed offsets
 * are the cut (every event below them had its effects applied and published; everything from
 * them on will be consumed again). ClickHouse's raw table holds every event below the cut once
 * the raw sink's group has committed past it, so watermarks, dedup sets, quota counters (and
 * their alert flags) and open hours' cumulative rollups are recomputed from it.
 */
export async function rebuildStreamState(deps: RebuildDeps): Promise<{ events: number; counters: number; rollups: number } | undefined> {
  const { redis } = deps;
  // One rebuilder across all instances; the others wait for the epoch (their scripts refuse
  // to apply anything until it exists).
  const lockKey = `${KEY_ROOT}:rebuild-lock`;
  const owner = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  if ((await redis.set(lockKey, owner, 'PX', 600_000, 'NX')) !== 'OK') {
    while ((await redis.exists(redisKeys.epoch())) === 0) await sleep(250);
    return undefined;
  }
  try {
    return await rebuildLocked(deps);
  } finally {
    if ((await redis.get(lockKey)) === owner) await redis.del(lockKey);
  }
}

async function rebuildLocked(deps: RebuildDeps): Promise<{ events: number; counters: number; rollups: number }> {
  const { redis, log } = deps;
  const now = (deps.clock ?? Date.now)();
  const cut = await committedOffsets(deps.kafka, deps.groupId, deps.topic);
  // Nothing consumed yet (a first start): the state is built empty, which is no loss to warn of.
  const firstStart = [...cut.values()].every((offset) => offset <= 0n);
  const report = firstStart ? log.info.bind(log) : log.warn.bind(log);
  if (firstStart) log.info('Redis stream state initialised (nothing consumed yet)');
  else log.warn({ cut: Object.fromEntries([...cut].map(([p, o]) => [p, o.toString()])) }, 'Redis stream state missing: rebuilding from ClickHouse up to the committed offsets');

  // ClickHouse must hold every event below the cut.
  for (;;) {
    const sink = await committedOffsets(deps.kafka, deps.rawSinkGroupId, deps.topic);
    const behind = [...cut].filter(([p, offset]) => offset > 0n && (sink.get(p) ?? -1n) < offset);
    if (behind.length === 0) break;
    log.info({ behind: behind.map(([p]) => p) }, 'waiting for the raw sink to reach the cut');
    await sleep(500);
  }

  // Partial writes made after the loss (before it was noticed) go too.
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY_ROOT}:*`, 'COUNT', 1000);
    cursor = next;
    const doomed = keys.filter((key) => key !== `${KEY_ROOT}:rebuild-lock`);
    if (doomed.length > 0) await redis.unlink(...doomed);
  } while (cursor !== '0');

  const cutList = [...cut].filter(([, o]) => o > 0n);
  if (cutList.length === 0) {
    await redis.set(redisKeys.epoch(), String(now));
    log.info('nothing below the cut: empty state');
    return { events: 0, counters: 0, rollups: 0 };
  }
  const db = quoteIdentifier(deps.clickhouse.database);
  // ingested_at is stored to the minute: the end of its minute is the latest it can have been,
  // so the dedup window below keeps every event it should (and at most a minute more).
  const cutCondition = cutList.map(([p, o]) => `(source_partition = ${p} AND source_offset < ${o})`).join(' OR ');
  const result = await deps.clickhouse.client.query({
    query: `SELECT event_id, toUnixTimestamp64Milli(occurred_at) AS occurred_at, tenant_id, project_id, api_key_hash, provider, model, operation,
                   input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens,
                   audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens, units, service_tier,
                   toFloat64(latency_ms) AS latency_ms, toFloat64(ttft_ms) AS ttft_ms, status_code, error_type, metadata,
                   source_partition, source_offset, (toUnixTimestamp(ingested_at) + 60) * 1000 AS ingested_at
            FROM ${db}.usage_events FINAL WHERE ${cutCondition} ORDER BY source_partition, source_offset`,
    format: 'JSONEachRow',
  });
  type Row = Omit<UsageEvent, 'occurred_at' | TokenBucket | 'units'> & Record<'occurred_at' | TokenBucket | 'source_offset' | 'ingested_at', string> & { source_partition: number; units: Record<string, string | number> };
  const rows = await result.json<Row>();

  const maxts = new Map<string, number>(); // tenant|partition
  const events: (UsageEvent & { partition: number; ingestedAt: number })[] = rows.map((r) => ({
    ...r,
    occurred_at: Number(r.occurred_at),
    input_tokens: Number(r.input_tokens),
    cache_read_tokens: Number(r.cache_read_tokens),
    cache_write_tokens: Number(r.cache_write_tokens),
    output_tokens: Number(r.output_tokens),
    reasoning_tokens: Number(r.reasoning_tokens),
    cache_write_1h_tokens: Number(r.cache_write_1h_tokens),
    audio_input_tokens: Number(r.audio_input_tokens),
    audio_output_tokens: Number(r.audio_output_tokens),
    image_input_tokens: Number(r.image_input_tokens),
    image_output_tokens: Number(r.image_output_tokens),
    units: Object.fromEntries(Object.entries(r.units).map(([name, n]) => [name, Number(n)])),
    client_id: null, user_id: null, trace_id: null, endpoint_id: null,
    partition: r.source_partition,
    ingestedAt: Number(r.ingested_at),
  }));
  for (const e of events) {
    const key = `${e.tenant_id}|${e.partition}`;
    maxts.set(key, Math.max(maxts.get(key) ?? 0, e.occurred_at));
  }

  const pipeline = redis.pipeline();
  // Watermarks: everything below the cut is in.
  for (const key of maxts.keys()) {
    const [tenant, partition] = key.split('|') as [string, string];
    pipeline.hset(redisKeys.watermark(tenant, Number(partition)), 'off', (cut.get(Number(partition))! - 1n).toString(), 'maxts', String(maxts.get(key)));
  }
  // Dedup sets for events seen within the window.
  for (const e of events) {
    if (now - e.ingestedAt > deps.dedupWindowSeconds * 1000) continue;
    const key = `${tenantPrefix(e.tenant_id)}seen:${hourStart(e.occurred_at)}`;
    pipeline.sadd(key, eventIdHash(e.event_id));
    pipeline.expire(key, deps.dedupWindowSeconds, 'NX');
  }
  // Quota counters of every period whose counter would still exist (period end + grace).
  const money = new Map<UsageEvent, EventMoney>(events.map((e) => [e, deps.price(e)]));
  const counters = new Map<string, { used: bigint; definition: QuotaDefinition; end: number }>();
  const definitions = deps.quotas();
  for (const e of events) {
    for (const definition of definitions) {
      if (!matchesQuota(definition, e)) continue;
      const period = quotaPeriod(definition, e.occurred_at);
      if (period.end + COUNTER_GRACE_MS <= now) continue;
      const key = redisKeys.quotaCounter(e.tenant_id, definition.quota_id, period.start);
      let counter = counters.get(key);
      if (!counter) counters.set(key, (counter = { used: 0n, definition, end: period.end }));
      counter.used += quotaAmount(definition, e, money.get(e));
    }
  }
  // Alerts on the topic for counters still alive: their thresholds never alert again, even
  // when a batch that crossed them before the loss is redone after it.
  if (deps.alertsTopic !== undefined && counters.size > 0) {
    const since = Math.min(...[...counters.values()].map((c) => quotaPeriod(c.definition, c.end - 1).start));
    for (const alert of await readAlertsSince(deps.kafka, deps.alertsTopic, since)) {
      pipeline.hset(redisKeys.quotaCounter(alert.tenant_id, alert.quota_id, alert.period_start), `a:${alert.threshold_percent}`, 'published');
    }
  }
  for (const [key, { used, definition, end }] of counters) {
    if (used === 0n) continue;
    // Counters stop at 2^63 - 1, as in the script (the largest limit, a Redis int64).
    pipeline.hset(key, 'used', (used > MAX_QUOTA_LIMIT ? MAX_QUOTA_LIMIT : used).toString());
    // Thresholds already crossed were alerted before the loss: never again.
    for (const t of definition.thresholds) if (used >= thresholdTrigger(definition.limit, t)) pipeline.hset(key, `a:${t}`, 'rebuilt');
    pipeline.pexpireat(key, end + COUNTER_GRACE_MS);
  }
  // Cumulative rollups of the hours still open per tenant and partition.
  const groups = new Map<string, Record<string, number>>();
  const moneySums = new Map<string, { cost: bigint; charge: bigint; savings: bigint }>();
  for (const e of events) {
    const hour = hourStart(e.occurred_at);
    const mt = maxts.get(`${e.tenant_id}|${e.partition}`) ?? 0;
    if (hour + HOUR + deps.allowedLatenessMs <= mt) continue; // closed: final, already published
    const dims = JSON.stringify([e.project_id ?? '', e.provider, e.model, e.operation]);
    const key = `${tenantPrefix(e.tenant_id)}r:${e.partition}:${hour}:${dims}`;
    let f = groups.get(key);
    if (!f) {
      // The fields apply-usage-batch-2.lua keeps (latency and ttft in whole microseconds).
      groups.set(key, (f = { req: 0, in: 0, cr: 0, cw: 0, cw1: 0, out: 0, rs: 0, ai: 0, ao: 0, ii: 0, io: 0, err: 0, latu: 0, latumax: 0, latn: 0, ttftu: 0, ttftumax: 0, ttftn: 0, late: 0, upc: 0, uph: 0 }));
      pipeline.zadd(`${tenantPrefix(e.tenant_id)}open:${e.partition}`, hour, `${hour}:${dims}`);
    }
    f.req! += 1;
    f.in! += e.input_tokens;
    f.cr! += e.cache_read_tokens;
    f.cw! += e.cache_write_tokens;
    f.cw1! += e.cache_write_1h_tokens;
    f.out! += e.output_tokens;
    f.rs! += e.reasoning_tokens;
    f.ai! += e.audio_input_tokens;
    f.ao! += e.audio_output_tokens;
    f.ii! += e.image_input_tokens;
    f.io! += e.image_output_tokens;
    for (const [unit, n] of Object.entries(e.units)) if (n > 0) f[`u:${unit}`] = (f[`u:${unit}`] ?? 0) + n;
    const m = money.get(e)!;
    const sums = (moneySums.get(key) ?? moneySums.set(key, { cost: 0n, charge: 0n, savings: 0n }).get(key))!;
    sums.cost += m.costPico;
    sums.charge += m.chargePico;
    sums.savings += m.cacheSavingsPico;
    // As the script records them: the price version of each priced side, else an unpriced count.
    if (m.costPriced) f[`vc:${m.costVersion}`] = 1;
    else f.upc! += 1;
    if (m.chargePriced) f[`vh:${m.chargeVersion}`] = 1;
    else f.uph! += 1;
    const errorClass = classifyError(e.error_type, e.status_code);
    if (errorClass !== null) {
      f.err! += 1;
      f[`e:${errorClass}`] = (f[`e:${errorClass}`] ?? 0) + 1;
    }
    const sc = `s:${statusClass(e.status_code)}`;
    f[sc] = (f[sc] ?? 0) + 1;
    if (e.latency_ms !== null) {
      const us = millisToMicros(Number(e.latency_ms));
      f.latu! += us;
      f.latn! += 1;
      f.latumax = Math.max(f.latumax!, us);
    }
    if (e.ttft_ms !== null) {
      const us = millisToMicros(Number(e.ttft_ms));
      f.ttftu! += us;
      f.ttftn! += 1;
      f.ttftumax = Math.max(f.ttftumax!, us);
    }
  }
  for (const [key, fields] of groups) {
    const sums = moneySums.get(key) ?? { cost: 0n, charge: 0n, savings: 0n };
    const [cph, cpl] = splitPico(sums.cost);
    const [chh, chl] = splitPico(sums.charge);
    const [svh, svl] = splitPico(sums.savings);
    pipeline.hset(key, { ...fields, cph, cpl, chh, chl, svh, svl });
  }
  pipeline.set(redisKeys.epoch(), String(now));
  await execChecked(pipeline, 'writing rebuilt stream state');
  const summary = { events: events.length, counters: counters.size, rollups: groups.size };
  report(summary, 'Redis stream state rebuilt');
  return summary;
}
