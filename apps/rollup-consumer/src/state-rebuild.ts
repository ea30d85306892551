import type { Kafka } from 'kafkajs';
import { defaultEventLimits, hourStart, type EventMoney, type QuotaDefinition, type UsageEvent } from '@meterline/domain';
import type { ClickHouseHandle } from '@meterline/clickhouse';
import { KEY_ROOT, Lease, LeaseLostError, execChecked, redisKeys, streamLayout, type ScriptedRedis } from '@meterline/redis';
import { MeterlineError, errorMessage, sleep, type Logger } from '@meterline/platform';
import { COUNTER_GRACE_MS, eventIdHash, planTenantBatch, thresholdTrigger, type OffsetEvent } from './plan-batch';
import { readAlertsSince } from './published-alerts';
import { QuotaCounterSums, routeQuotas, slotShape, type RebuiltCounter } from './rebuild-quotas';
import { readWatermarks, streamDedupIds, streamOpenHourEvents, streamRawSlotTotals, streamRollupTotals, type Cut, type RawEventRow, type TenantFilter } from './rebuild-sources';

export interface RebuildTimeouts {
  /** How long the raw and rollup sinks may take to commit past the cut before the rebuild fails. */
  sinksMs: number;
  /** How long an instance waits for another's rebuild (the lease held, no epoch yet) before failing. */
  holderMs: number;
  /** The lease's time to live: a holder that dies frees it after this; a live one renews it. */
  leaseTtlMs: number;
  /** How often waits look again. */
  pollMs: number;
}

export const defaultRebuildTimeouts: RebuildTimeouts = { sinksMs: 120_000, holderMs: 600_000, leaseTtlMs: 30_000, pollMs: 250 };

export interface RebuildDeps {
  kafka: Kafka;
  redis: ScriptedRedis;
  clickhouse: ClickHouseHandle;
  log: Logger;
  topic: string;
  groupId: string;
  /** The raw sink's group: ClickHouse holds every event below its committed offsets. */
  rawSinkGroupId: string;
  /** The rollups topic and the group writing it to ClickHouse (quota totals come from its rows). */
  rollupsTopic: string;
  rollupSinkGroupId: string;
  /** Alerts already published (read back so no threshold alerts twice after the rebuild). */
  alertsTopic?: string;
  allowedLatenessMs: number;
  dedupWindowSeconds: number;
  /** The oldest event the stream accepts, before its record time (EventLimits.maxPastMs). */
  maxPastMs?: number;
  quotas: () => QuotaDefinition[];
  /** Prices the events of open hours replayed through the apply script: the books in force now. */
  price: (event: UsageEvent) => EventMoney;
  timeouts?: Partial<RebuildTimeouts>;
  clock?: () => number;
}

/** What a rebuild wrote and how many rows it read for it. */
export interface RebuildSummary {
  watermarks: number;
  /** Raw events of open hours replayed through the apply script, and raw rows read for them. */
  openHourEvents: number;
  openHourRowsRead: number;
  /** Event ids read for the dedup sets. */
  dedupIds: number;
  /** Hourly rollup slots and raw quarter-hour slots summed into quota counters. */
  rollupSlots: number;
  rawSlots: number;
  counters: number;
  /** Wall time of each step, ms. */
  phasesMs: Record<'sinks' | 'watermarks' | 'counters' | 'openHours' | 'dedup' | 'finish', number>;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;
const EMPTY: RebuildSummary = { watermarks: 0, openHourEvents: 0, openHourRowsRead: 0, dedupIds: 0, rollupSlots: 0, rawSlots: 0, counters: 0, phasesMs: { sinks: 0, watermarks: 0, counters: 0, openHours: 0, dedup: 0, finish: 0 } };
/** Commands per pipeline when writing rebuilt state. */
const PIPELINE_COMMANDS = 5_000;
/** Script calls per pipeline when replaying open hours. */
const PIPELINE_CALLS = 16;
/** Events per script call, as the consumer sends them. */
const CALL_EVENTS = 1_000;

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

async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => [partition, BigInt(high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Waits until `groupId` has committed at least `target` in every partition, or throws when the deadline passes. */
async function waitForGroup(deps: RebuildDeps, what: string, groupId: string, topic: string, target: ReadonlyMap<number, bigint>, timeouts: RebuildTimeouts): Promise<void> {
  const deadline = Date.now() + timeouts.sinksMs;
  for (;;) {
    const committed = await committedOffsets(deps.kafka, groupId, topic);
    const behind = [...target].filter(([p, offset]) => offset > 0n && (committed.get(p) ?? -1n) < offset).map(([p, offset]) => `partition ${p} at ${committed.get(p) ?? -1n} < ${offset}`);
    if (behind.length === 0) return;
    if (Date.now() >= deadline) {
      throw new MeterlineError('REBUILD_SINK_BEHIND', `Redis state rebuild: the ${what} (group ${groupId}) did not commit ${topic} up to the cut within ${timeouts.sinksMs} ms (${behind.join(', ')}); ClickHouse lacks what the rebuild must read. Is the ${what} running?`, { retriable: true });
    }
    deps.log.info({ group: groupId, topic, behind }, `state rebuild waiting for the ${what} to reach the cut`);
    await sleep(timeouts.pollMs);
  }
}

/**
 * Rebuilds the stream state after Redis lost it, exactly, reading only what the stream can still
 * read: the rollup group's committed offsets are the cut (every event below them had its effects
 * applied and published; everything from them on will be consumed again). Once the raw sink has
 * committed past the cut and the rollup sink has written every published rollup, it rebuilds from
 * ClickHouse: watermarks (tenant and partition, event time within what the stream accepts), the
 * hours still open (their raw events replayed through the apply script, the one definition of a
 * rollup), the dedup sets (ids ingested within the window), and quota counters of the periods in
 * force (closed hours from the hourly rollups, open hours through the script; quotas the rollups
 * cannot answer from raw sums), with their alert flags.
 *
 * One instance rebuilds, under a lease it renews while it works; the others wait for the epoch
 * and take the lease over if its holder dies. Returns undefined when another instance rebuilt.
 */
export async function rebuildStreamState(deps: RebuildDeps): Promise<RebuildSummary | undefined> {
  const timeouts = { ...defaultRebuildTimeouts, ...deps.timeouts };
  const giveUpAt = Date.now() + timeouts.holderMs;
  for (;;) {
    if ((await deps.redis.exists(redisKeys.epoch())) === 1) return undefined;
    const lease = await Lease.tryAcquire(deps.redis, redisKeys.rebuildLease(), {
      ttlMs: timeouts.leaseTtlMs,
      onLost: (error) => deps.log.error({ err: error.message }, 'state rebuild lease lost: this rebuild stops'),
    });
    if (lease !== undefined) {
      try {
        return await rebuildHolding(deps, lease, timeouts);
      } finally {
        await lease.release().catch((error: unknown) => deps.log.warn({ err: errorMessage(error) }, 'releasing the state rebuild lease failed (it lapses by itself)'));
      }
    }
    if (Date.now() >= giveUpAt) {
      throw new MeterlineError('REBUILD_WAIT_TIMEOUT', `Redis state rebuild: another instance has held ${redisKeys.rebuildLease()} for over ${timeouts.holderMs} ms without building the state`, { retriable: true });
    }
    await sleep(timeouts.pollMs);
  }
}

async function rebuildHolding(deps: RebuildDeps, lease: Lease, timeouts: RebuildTimeouts): Promise<RebuildSummary> {
  const { log } = deps;
  const now = (deps.clock ?? Date.now)();
  const cut: Cut = await committedOffsets(deps.kafka, deps.groupId, deps.topic);
  // Nothing consumed yet (a first start): the state is built empty, which is no loss to warn of.
  if ([...cut.values()].every((offset) => offset <= 0n)) {
    await deleteStreamKeys(deps.redis, lease);
    await lease.confirm();
    await deps.redis.set(redisKeys.epoch(), String(now));
    log.info('Redis stream state initialised (nothing consumed yet)');
    return EMPTY;
  }
  log.warn({ cut: Object.fromEntries([...cut].map(([p, o]) => [p, o.toString()])) }, 'Redis stream state missing: rebuilding from ClickHouse up to the committed offsets');
  const started = Date.now();
  let phaseStart = started;
  const phase = (): number => -phaseStart + (phaseStart = Date.now());
  await waitForGroup(deps, 'raw sink', deps.rawSinkGroupId, deps.topic, cut, timeouts);
  // Every rollup of a batch below the cut was published before that batch was committed.
  await waitForGroup(deps, 'rollup sink', deps.rollupSinkGroupId, deps.rollupsTopic, await endOffsets(deps.kafka, deps.rollupsTopic), timeouts);
  await deleteStreamKeys(deps.redis, lease);
  const sinksMs = phase();
  const watermarks = await writeWatermarks(deps, lease, cut, now);
  const watermarksMs = phase();
  const counters = await writeQuotaCounters(deps, lease, cut, watermarks, now);
  // Flags first: the script then adds open hours to a counter without walking its events for thresholds already alerted.
  await writeAlertFlags(deps, lease, counters.all);
  const countersMs = phase();
  const replay = new OpenHourReplay(deps, lease, watermarks, counters.scriptQuotas, now);
  for (const { fromMs, tenants } of openHourReads(watermarks.values(), deps.allowedLatenessMs)) {
    for await (const rows of streamOpenHourEvents(deps.clickhouse, cut, fromMs, tenants)) {
      for (const row of rows) await replay.add(row);
    }
  }
  await replay.finish();
  const openHoursMs = phase();
  const dedupIds = await writeDedupSets(deps, lease, cut, now);
  const dedupMs = phase();
  await restoreWatermarkOffsets(deps, lease, cut, watermarks.values());
  await lease.confirm();
  await deps.redis.set(redisKeys.epoch(), String(now));
  const phasesMs = { sinks: sinksMs, watermarks: watermarksMs, counters: countersMs, openHours: openHoursMs, dedup: dedupMs, finish: phase() };
  const summary: RebuildSummary = { watermarks: watermarks.size, openHourEvents: replay.events, openHourRowsRead: replay.rowsRead, dedupIds, rollupSlots: counters.rollupSlots, rawSlots: counters.rawSlots, counters: counters.all.length, phasesMs };
  log.warn({ ...summary, ms: Date.now() - started }, 'Redis stream state rebuilt');
  return summary;
}

/** Deletes every stream key but the lease: partial writes made after the loss, or by a holder that died. */
async function deleteStreamKeys(redis: ScriptedRedis, lease: Lease): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY_ROOT}:*`, 'COUNT', 1000);
    cursor = next;
    const doomed = keys.filter((key) => key !== lease.key);
    if (doomed.length > 0) {
      await lease.confirm();
      await redis.unlink(...doomed);
    }
  } while (cursor !== '0');
}

/** Queues commands and runs them in pipelines of PIPELINE_COMMANDS, checking every reply, while the lease holds. */
class PipelineWriter {
  #pipeline;
  #queued = 0;
  constructor(
    private readonly redis: ScriptedRedis,
    private readonly lease: Lease,
    private readonly what: string,
  ) {
    this.#pipeline = redis.pipeline();
  }
  async queue(add: (pipeline: ReturnType<ScriptedRedis['pipeline']>) => void): Promise<void> {
    add(this.#pipeline);
    if (++this.#queued >= PIPELINE_COMMANDS) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.#queued === 0) return;
    const pipeline = this.#pipeline;
    this.#pipeline = this.redis.pipeline();
    this.#queued = 0;
    await this.lease.confirm();
    await execChecked(pipeline, this.what);
  }
}

interface Watermark {
  tenant: string;
  partition: number;
  maxts: number;
}
const watermarkId = (tenant: string, partition: number): string => `${partition}|${tenant}`;

/**
 * Watermarks with the latest event time; their offset stays -1 while open hours are replayed
 * (every replayed event is new to the script), then becomes the cut (restoreWatermarkOffsets).
 */
async function writeWatermarks(deps: RebuildDeps, lease: Lease, cut: Cut, now: number): Promise<Map<string, Watermark>> {
  // An older watermark decides nothing: every event the stream still accepts is past its hour's lateness.
  const fromMs = now - (deps.maxPastMs ?? defaultEventLimits.maxPastMs) - deps.allowedLatenessMs - 2 * HOUR;
  const watermarks = new Map<string, Watermark>();
  const writer = new PipelineWriter(deps.redis, lease, 'writing rebuilt watermarks');
  for (const row of await readWatermarks(deps.clickhouse, cut, fromMs)) {
    const wm = { tenant: row.tenant_id, partition: row.source_partition, maxts: Number(row.maxts) };
    watermarks.set(watermarkId(wm.tenant, wm.partition), wm);
    await writer.queue((p) => p.hset(redisKeys.watermark(wm.tenant, wm.partition), streamLayout.watermark.offset, '-1', streamLayout.watermark.maxEventTime, String(wm.maxts)));
  }
  await writer.flush();
  return watermarks;
}

async function restoreWatermarkOffsets(deps: RebuildDeps, lease: Lease, cut: Cut, watermarks: Iterable<Watermark>): Promise<void> {
  const writer = new PipelineWriter(deps.redis, lease, 'writing rebuilt watermark offsets');
  for (const wm of watermarks) await writer.queue((p) => p.hset(redisKeys.watermark(wm.tenant, wm.partition), streamLayout.watermark.offset, ((cut.get(wm.partition) ?? 0n) - 1n).toString()));
  await writer.flush();
}

/** An hour is open while hour + 1h + lateness is after the latest event time of its tenant and partition. */
const isOpen = (hour: number, wm: Watermark, latenessMs: number): boolean => hour + HOUR + latenessMs > wm.maxts;
const firstOpenHour = (wm: Watermark, latenessMs: number): number => hourStart(wm.maxts - latenessMs - HOUR) + HOUR;

/**
 * The raw reads of open hours: one from the earliest first open hour among tenants active within
 * a day of the latest, for all but the others; one per first open hour of the others (tenants
 * idle for longer, whose open hours are older), so an idle tenant does not pull days into the read.
 */
function openHourReads(watermarks: Iterable<Watermark>, latenessMs: number): { fromMs: number; tenants: TenantFilter }[] {
  const fromByTenant = new Map<string, number>();
  for (const wm of watermarks) fromByTenant.set(wm.tenant, Math.min(fromByTenant.get(wm.tenant) ?? Number.POSITIVE_INFINITY, firstOpenHour(wm, latenessMs)));
  if (fromByTenant.size === 0) return [];
  const recentFrom = Math.max(...fromByTenant.values()) - DAY;
  const idle = new Map<number, string[]>();
  let activeFrom = Number.POSITIVE_INFINITY;
  for (const [tenant, from] of fromByTenant) {
    if (from >= recentFrom) activeFrom = Math.min(activeFrom, from);
    else idle.set(from, [...(idle.get(from) ?? []), tenant]);
  }
  const except = [...idle.values()].flat();
  return [{ fromMs: activeFrom, tenants: { except } }, ...[...idle].map(([fromMs, only]) => ({ fromMs, tenants: { only } }))];
}

/**
 * Quota counters of the periods in force. Quotas the rollups answer: their closed hours from the
 * hourly rollups here, their open hours added by the apply script (scriptQuotas). The others
 * (by API key, or periods off the hour): raw quarter-hour sums of every hour.
 */
async function writeQuotaCounters(deps: RebuildDeps, lease: Lease, cut: Cut, watermarks: ReadonlyMap<string, Watermark>, now: number): Promise<{ all: RebuiltCounter[]; scriptQuotas: Map<string, QuotaDefinition[]>; rollupSlots: number; rawSlots: number }> {
  const { fromRollups, fromRaw, horizonMs } = routeQuotas(deps.quotas(), now);
  const fromMs = hourStart(horizonMs);
  const hourly = new QuotaCounterSums(fromRollups, now);
  let rollupSlots = 0;
  if (fromRollups.length > 0) {
    // Open hours are left to the apply script; closed ones are read from the rollups.
    const closedBefore = new Map([...watermarks].map(([id, wm]) => [id, firstOpenHour(wm, deps.allowedLatenessMs)]));
    for await (const slots of streamRollupTotals(deps.clickhouse, cut, hourly.tenants(), slotShape(fromRollups, now), fromMs, closedBefore)) {
      for (const slot of slots) hourly.add(slot);
      rollupSlots += slots.length;
    }
  }
  const raw = new QuotaCounterSums(fromRaw, now);
  let rawSlots = 0;
  if (fromRaw.length > 0) {
    for await (const slots of streamRawSlotTotals(deps.clickhouse, cut, raw.tenants(), slotShape(fromRaw, now), fromMs)) {
      for (const slot of slots) raw.add(slot);
      rawSlots += slots.length;
    }
  }
  const all = [...hourly.counters(), ...raw.counters()];
  const writer = new PipelineWriter(deps.redis, lease, 'writing rebuilt quota counters');
  for (const { key, used, period } of all) {
    await writer.queue((p) => p.hset(key, streamLayout.quotaCounter.used, used.toString()));
    await writer.queue((p) => p.pexpireat(key, period.end + COUNTER_GRACE_MS));
  }
  await writer.flush();
  const scriptQuotas = new Map<string, QuotaDefinition[]>();
  for (const definition of fromRollups) scriptQuotas.set(definition.tenant_id, [...(scriptQuotas.get(definition.tenant_id) ?? []), definition]);
  return { all, scriptQuotas, rollupSlots, rawSlots };
}

function usageEventOf(row: RawEventRow): UsageEvent {
  return {
    event_id: row.event_id,
    occurred_at: Number(row.occurred_ms),
    tenant_id: row.tenant_id,
    project_id: row.project_id,
    api_key_hash: row.api_key_hash,
    client_id: null,
    user_id: null,
    trace_id: null,
    endpoint_id: null,
    provider: row.provider,
    model: row.model,
    operation: row.operation,
    input_tokens: Number(row.input_tokens),
    cache_read_tokens: Number(row.cache_read_tokens),
    cache_write_tokens: Number(row.cache_write_tokens),
    cache_write_1h_tokens: Number(row.cache_write_1h_tokens),
    output_tokens: Number(row.output_tokens),
    reasoning_tokens: Number(row.reasoning_tokens),
    audio_input_tokens: Number(row.audio_input_tokens),
    audio_output_tokens: Number(row.audio_output_tokens),
    image_input_tokens: Number(row.image_input_tokens),
    image_output_tokens: Number(row.image_output_tokens),
    units: Object.fromEntries(Object.entries(row.units).map(([name, n]) => [name, Number(n)])),
    service_tier: row.service_tier,
    latency_ms: row.latency_ms,
    ttft_ms: row.ttft_ms,
    status_code: row.status_code,
    error_type: row.error_type,
    metadata: row.metadata,
  };
}

/**
 * Replays the raw events of open hours through apply-usage-batch-2.lua, as the consumer applies
 * them: the rollup hashes, open-hour sets, dedup ids and the open hours' part of quota counters
 * come from the one script. Its state key is the lease (it applies only while a rebuild holds
 * it); its outbox entries are dropped (all of it was published before the loss).
 */
class OpenHourReplay {
  events = 0;
  rowsRead = 0;
  #tenant: string | undefined;
  readonly #buffers = new Map<number, OffsetEvent[]>();
  #pipeline;
  #calls = 0;
  readonly #outboxes = new Set<string>();
  /** Seen-set entries of replayed events ingested before the dedup window: the stream's expired. */
  readonly #stale: [key: string, idHash: string][] = [];
  readonly #ingestedAt = new Map<OffsetEvent, number>();

  constructor(
    private readonly deps: RebuildDeps,
    private readonly lease: Lease,
    private readonly watermarks: ReadonlyMap<string, Watermark>,
    private readonly quotas: ReadonlyMap<string, QuotaDefinition[]>,
    private readonly now: number,
  ) {
    this.#pipeline = deps.redis.pipeline();
  }

  async add(row: RawEventRow): Promise<void> {
    this.rowsRead++;
    const wm = this.watermarks.get(watermarkId(row.tenant_id, row.source_partition));
    const event = usageEventOf(row);
    // The read is bounded per tenant; an hour closed in this partition was published whole.
    if (wm === undefined || !isOpen(hourStart(event.occurred_at), wm, this.deps.allowedLatenessMs)) return;
    if (row.tenant_id !== this.#tenant) await this.#flushTenant();
    this.#tenant = row.tenant_id;
    const buffer = this.#buffers.get(row.source_partition) ?? [];
    this.#buffers.set(row.source_partition, buffer);
    const item = { offset: row.source_offset, event };
    this.#ingestedAt.set(item, Number(row.ingested_ms));
    buffer.push(item);
    this.events++;
    if (buffer.length >= CALL_EVENTS) await this.#call(row.tenant_id, row.source_partition, this.#buffers.get(row.source_partition)!.splice(0));
  }

  /** Sends what is left, then drops the outboxes and the seen entries of events ingested before the window. */
  async finish(): Promise<void> {
    await this.#flushTenant();
    await this.#exec();
    const writer = new PipelineWriter(this.deps.redis, this.lease, 'dropping replayed outboxes');
    for (const key of this.#outboxes) await writer.queue((p) => p.unlink(key));
    for (const [key, idHash] of this.#stale) await writer.queue((p) => p.srem(key, idHash));
    await writer.flush();
  }

  async #flushTenant(): Promise<void> {
    if (this.#tenant === undefined) return;
    for (const [partition, events] of this.#buffers) if (events.length > 0) await this.#call(this.#tenant, partition, events.splice(0));
  }

  async #call(tenant: string, partition: number, events: OffsetEvent[]): Promise<void> {
    const plan = planTenantBatch(tenant, partition, events, this.quotas.get(tenant) ?? [], {
      allowedLatenessMs: this.deps.allowedLatenessMs,
      dedupWindowSeconds: this.deps.dedupWindowSeconds,
      price: this.deps.price,
      stateKey: this.lease.key,
    });
    this.#outboxes.add(redisKeys.outbox(tenant, partition));
    const dedupFrom = this.now - this.deps.dedupWindowSeconds * 1000;
    for (const item of events) if (this.#ingestedAt.get(item)! <= dedupFrom) this.#stale.push([redisKeys.seen(tenant, hourStart(item.event.occurred_at)), eventIdHash(item.event.event_id)]);
    for (const item of events) this.#ingestedAt.delete(item);
    // Chunks arrive in the table's order, not by offset: each call sees them all as new.
    this.#pipeline.hset(plan.keys[0], streamLayout.watermark.offset, '-1');
    (this.#pipeline as unknown as { applyUsageBatch(args: (string | number | Buffer)[]): void }).applyUsageBatch([...plan.keys, ...plan.args]);
    if (++this.#calls >= PIPELINE_CALLS) await this.#exec();
  }

  async #exec(): Promise<void> {
    if (this.#calls === 0) return;
    const pipeline = this.#pipeline;
    this.#pipeline = this.deps.redis.pipeline();
    this.#calls = 0;
    await this.lease.confirm();
    const replies = await execChecked(pipeline, 'replaying open hours through the apply script');
    // -1: the state key (the lease) is gone: another instance may be rebuilding now.
    if (replies.some((reply) => Array.isArray(reply) && reply[0] === -1)) throw new LeaseLostError(this.lease.key, 'the apply script found no lease');
  }
}

/** Dedup sets: every id ingested within the window, in its hour's set, expiring as the stream's do. */
async function writeDedupSets(deps: RebuildDeps, lease: Lease, cut: Cut, now: number): Promise<number> {
  const windowMs = deps.dedupWindowSeconds * 1000;
  const writer = new PipelineWriter(deps.redis, lease, 'writing rebuilt dedup sets');
  let ids = 0;
  const occurredFrom = now - windowMs - (deps.maxPastMs ?? defaultEventLimits.maxPastMs);
  for await (const rows of streamDedupIds(deps.clickhouse, cut, now - windowMs, occurredFrom)) {
    const byKey = new Map<string, string[]>();
    for (const row of rows) {
      const key = redisKeys.seen(row.tenant_id, Number(row.hour));
      const hashes = byKey.get(key) ?? [];
      byKey.set(key, hashes);
      hashes.push(eventIdHash(row.event_id));
    }
    for (const [key, hashes] of byKey) {
      await writer.queue((p) => p.sadd(key, ...hashes));
      await writer.queue((p) => p.expire(key, deps.dedupWindowSeconds, 'NX'));
    }
    ids += rows.length;
  }
  await writer.flush();
  return ids;
}

/**
 * Alert flags: thresholds a counter has reached were alerted before the loss (never again), and
 * so were alerts on the topic for counters still alive (a batch that crossed them before the loss
 * is redone after it). Counters the script created flag their own crossings as it adds.
 */
async function writeAlertFlags(deps: RebuildDeps, lease: Lease, counters: readonly RebuiltCounter[]): Promise<void> {
  const writer = new PipelineWriter(deps.redis, lease, 'writing rebuilt alert flags');
  const flag = streamLayout.quotaCounter.alertFlagPrefix;
  for (const { key, used, definition } of counters) {
    for (const t of definition.thresholds) if (used >= thresholdTrigger(definition.limit, t)) await writer.queue((p) => p.hset(key, `${flag}${t}`, 'rebuilt'));
  }
  if (deps.alertsTopic !== undefined && counters.length > 0) {
    const since = Math.min(...counters.map((c) => c.period.start));
    for (const alert of await readAlertsSince(deps.kafka, deps.alertsTopic, since)) {
      const key = redisKeys.quotaCounter(alert.tenant_id, alert.quota_id, alert.period_start);
      await writer.queue((p) => p.hset(key, `${flag}${alert.threshold_percent}`, 'published'));
      await writer.queue((p) => p.pexpireat(key, alert.period_end + COUNTER_GRACE_MS));
    }
  }
  await writer.flush();
}
