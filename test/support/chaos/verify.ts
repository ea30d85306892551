import { alertId } from '@meterline/domain';
import { quoteIdentifier, reconcileUsage, UsageRollupsTable, type ClickHouseHandle } from '@meterline/clickhouse';
import { quotaAlertCodec } from '@meterline/contract';
import { Redis } from 'ioredis';
import { waitFor } from '@meterline/testing';
import { readTopic } from '../read-topic';
import type { ChaosFleet } from './fleet';
import { hourlyMeasures, type ChaosReference, type HourlyTotals } from './load';

const HOUR = 3_600_000;

export interface WindowCount {
  /** Distinct events the load generated in the window. */
  sent: number;
  /** Of those, not in ClickHouse's raw events. */
  lost: number;
  /** Raw rows past one per event id. */
  duplicated: number;
}

export interface Verdict {
  perWindow: Map<number, WindowCount>;
  rawEvents: number;
  rollupRequests: number;
  /** Everything that is not exactly as the reference says; empty when the run is exact. */
  problems: string[];
  alerts: { published: number; distinct: number; expected: number };
  counters: number;
}

/** Waits on facts: every consumer group of the stream has committed every message. */
export async function waitCaughtUp(fleet: ChaosFleet, timeoutMs: number): Promise<void> {
  await waitFor(() => fleet.lags(), (lags) => Object.values(lags).every((lag) => lag === 0), { what: 'consumer-group lag 0 on every stage', timeoutMs, intervalMs: 500 });
}

/** Raw events (FINAL) = rollups = Redis counters = the reference, exactly; each alert once. */
export async function verifyExact(fleet: ChaosFleet, reference: ChaosReference, thresholds: { tenants: readonly string[]; limit: bigint }): Promise<Verdict> {
  const handle = fleet.openClickHouse();
  const problems: string[] = [];
  try {
    const perWindow = await rawPerWindow(handle, reference);
    for (const [w, c] of perWindow) {
      if (c.lost !== 0) problems.push(`window ${w}: ${c.lost} of ${c.sent} events missing from the raw events`);
      if (c.duplicated !== 0) problems.push(`window ${w}: ${c.duplicated} raw rows counted twice`);
    }
    const rawEvents = [...perWindow.values()].reduce((n, c) => n + c.sent - c.lost + c.duplicated, 0);

    // Rollups (the stream's path) against the reference, group by group.
    const rollups = await new UsageRollupsTable(handle).hourly();
    const actual = new Map<string, HourlyTotals>();
    for (const r of rollups) {
      actual.set([r.tenant_id, r.hour, r.project_id, r.provider, r.model, r.operation].join('|'), {
        requests: Number(r.requests), input_tokens: Number(r.input_tokens), cache_read_tokens: Number(r.cache_read_tokens), cache_write_tokens: Number(r.cache_write_tokens),
        output_tokens: Number(r.output_tokens), reasoning_tokens: Number(r.reasoning_tokens), errors: Number(r.errors),
      });
    }
    const rollupRequests = [...actual.values()].reduce((n, r) => n + r.requests, 0);
    if (rollupRequests !== reference.distinct) problems.push(`rollups count ${rollupRequests} requests, the reference ${reference.distinct} (${rollupRequests - reference.distinct > 0 ? 'double counted' : 'missing'})`);
    const groupDiffs: string[] = [];
    for (const key of new Set([...reference.hourly.keys(), ...actual.keys()])) {
      const want = reference.hourly.get(key);
      const got = actual.get(key);
      const differing = hourlyMeasures.filter((m) => (want?.[m] ?? 0) !== (got?.[m] ?? 0));
      if (differing.length > 0) groupDiffs.push(`${key}: ${differing.map((m) => `${m} ${got?.[m] ?? 0} != ${want?.[m] ?? 0}`).join(', ')}`);
    }
    if (groupDiffs.length > 0) problems.push(`${groupDiffs.length} rollup groups differ from the reference, e.g. ${groupDiffs.slice(0, 5).join('; ')}`);

    // Raw events against rollups, through the reconciliation an operator runs.
    const from = Math.floor(reference.minOccurredAt / HOUR) * HOUR;
    const to = Math.floor(reference.maxOccurredAt / HOUR) * HOUR + HOUR;
    for (const tenant of thresholds.tenants) {
      const report = await reconcileUsage(handle, tenant, from, to);
      if (report.differences.length > 0) problems.push(`reconcile ${tenant}: ${JSON.stringify(report.differences.slice(0, 3))}`);
    }

    // Redis quota counters.
    const redis = new Redis(fleet.redis.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    let counters = 0;
    try {
      await redis.connect();
      const keys = [...reference.counters.keys()];
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.hget(key, 'used');
      const used = (await pipeline.exec()) ?? [];
      keys.forEach((key, i) => {
        const [error, value] = used[i] ?? [new Error('no result'), null];
        const want = reference.counters.get(key)!.toString();
        if (error !== null || value !== want) problems.push(`redis counter ${key}: ${error !== null ? String(error) : String(value)} != ${want}`);
        else counters++;
      });
    } finally {
      redis.disconnect();
    }

    // Quota alerts: each crossing once, none missing, none twice.
    const codec = quotaAlertCodec();
    const alerts = (await readTopic(fleet.kafka, fleet.config.topics.quotaAlerts)).map((m) => codec.decode(m.value!));
    const expected = new Set<string>();
    for (const [label, total] of reference.periodTotals) {
      const [tenant, quota, period] = label.split('|') as [string, string, string];
      for (const t of [50, 80, 100]) if (total * 100n >= thresholds.limit * BigInt(t)) expected.add(alertId(tenant, quota, period, t));
    }
    const ids = alerts.map((a) => a.alert_id);
    const distinct = new Set(ids);
    if (distinct.size !== ids.length) problems.push(`${ids.length - distinct.size} duplicate alert ids on the quota alerts topic`);
    const missing = [...expected].filter((id) => !distinct.has(id));
    const unexpected = [...distinct].filter((id) => !expected.has(id));
    if (missing.length > 0 || unexpected.length > 0) problems.push(`alerts: ${missing.length} missing, ${unexpected.length} unexpected of ${expected.size}`);
    return { perWindow, rawEvents, rollupRequests, problems, alerts: { published: ids.length, distinct: distinct.size, expected: expected.size }, counters };
  } finally {
    await handle.close();
  }
}

/** Raw events per fault window (the window is in the event id: c<seed>w<window>-<n>). */
async function rawPerWindow(handle: ClickHouseHandle, reference: ChaosReference): Promise<Map<number, WindowCount>> {
  const result = await handle.client.query({
    query: `SELECT toUInt32OrZero(extract(event_id, '^c[0-9]+w([0-9]+)-')) AS w, count() AS rows, uniqExact(event_id) AS ids
            FROM ${quoteIdentifier(handle.database)}.usage_events FINAL GROUP BY w`,
    format: 'JSONEachRow',
  });
  const rows = new Map((await result.json<{ w: number; rows: string; ids: string }>()).map((r) => [Number(r.w), { rows: Number(r.rows), ids: Number(r.ids) }]));
  const out = new Map<number, WindowCount>();
  for (const w of new Set([...reference.perWindow.keys(), ...rows.keys()])) {
    const sent = reference.perWindow.get(w) ?? 0;
    const got = rows.get(w) ?? { rows: 0, ids: 0 };
    out.set(w, { sent, lost: sent - got.ids, duplicated: got.rows - got.ids });
  }
  return out;
}

/** Whether a probe event (its own rollup group) is in the raw events and in the rollups. */
export async function probeLanded(handle: ClickHouseHandle, project: string): Promise<boolean> {
  const db = quoteIdentifier(handle.database);
  const result = await handle.client.query({
    query: `SELECT (SELECT count() FROM ${db}.usage_events WHERE project_id = {p:String}) AS raw,
                   (SELECT count() FROM ${db}.usage_rollups_hourly WHERE project_id = {p:String}) AS rolled`,
    query_params: { p: project },
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ raw: string; rolled: string }>();
  return Number(row?.raw ?? 0) > 0 && Number(row?.rolled ?? 0) > 0;
}

