import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UsageEvent } from '@meterline/domain';
import { fleetConfigSchema, type FleetConfig } from '@meterline/platform';
import type { Queue } from 'bullmq';
import type { ClickHouseHandle } from '@meterline/clickhouse';
import { ClickHouseSink, usageEventsStream } from '@meterline/clickhouse-sink';
import { UsageEventsTable } from '@meterline/clickhouse';
import { uniqueName, waitFor } from '@meterline/testing';
import { testLog } from './raw-path';
import { generateStream, streamRig, type StreamRig } from './stream';
import { halfEven, type ReferencePrices } from './reference-prices';

/** The first instant of the current month: the month before it is the one the tests invoice (its events are within the producer's 90-day bound). */
export const monthEnd = (): number => {
  const now = new Date();
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
};


/**
 * An independent invoice reference: from the generated events, the reference prices (its own
 * arithmetic) and the billing terms file read as plain JSON. One line per (model, price, bucket),
 * each rounded once half-even to the currency's minor unit; then commitment, percentage
 * discount, fixed discount and credit in that order.
 */
export interface ReferenceInvoice {
  /** Usage and request fee lines. */
  usage_minor: bigint;
  adjustments_minor: bigint;
  subtotal_minor: bigint;
  total_minor: bigint;
  credits_applied_minor: bigint;
  currency: string;
}

interface BillingDoc { tenant_id: string; currency?: string; exchange_rate?: string; minimum_commitment?: string; discount_percent?: string; fixed_discount?: string; credits?: string }

const MINOR_DIGITS: Record<string, number> = { USD: 2, EUR: 2, GBP: 2, JPY: 0 };

function decimal(text: string): { units: bigint; scale: number } {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new Error(`reference invoices: not a plain decimal: ${text}`);
  return { units: BigInt(m[1]! + (m[2] ?? '')), scale: (m[2] ?? '').length };
}

export class ReferenceInvoices {
  readonly #billing = new Map<string, BillingDoc>();

  constructor(
    private readonly prices: ReferencePrices,
    pricingDir: string,
  ) {
    const path = join(pricingDir, 'tenants/billing.json');
    if (existsSync(path)) for (const t of (JSON.parse(readFileSync(path, 'utf8')) as { tenants: BillingDoc[] }).tenants) this.#billing.set(t.tenant_id, t);
  }

  /** Tenants whose terms carry a minimum commitment above zero: invoiced every closed month, usage or not. */
  committedTenants(): string[] {
    return [...this.#billing.values()].filter((t) => t.minimum_commitment !== undefined && decimal(t.minimum_commitment).units > 0n).map((t) => t.tenant_id).sort();
  }

  /** Sum of per-line rounded amounts of `events` (one line per model, price and bucket). */
  #lines(events: readonly UsageEvent[], toMinor: (pico: bigint) => bigint): bigint {
    const sums = new Map<string, bigint>();
    for (const e of events) {
      const charged = this.prices.chargeLines(e);
      if (charged === null) throw new Error(`reference invoices: ${e.provider}/${e.model} is unpriced`);
      charged.lines.forEach((pico, bucket) => {
        const key = `${e.provider}|${e.model}|${charged.key}|${bucket}`;
        sums.set(key, (sums.get(key) ?? 0n) + pico);
      });
    }
    let total = 0n;
    for (const pico of sums.values()) total += toMinor(pico);
    return total;
  }

  invoice(tenant: string, events: readonly UsageEvent[], late: readonly UsageEvent[] = [], creditsUsedBefore = 0n): ReferenceInvoice {
    const terms = this.#billing.get(tenant) ?? { tenant_id: tenant };
    const currency = terms.currency ?? 'USD';
    const digits = MINOR_DIGITS[currency] ?? 2;
    const rate = decimal(terms.exchange_rate ?? '1');
    const toMinor = (pico: bigint): bigint => halfEven(pico * rate.units * 10n ** BigInt(digits), 10n ** BigInt(12 + rate.scale));
    const major = (text: string | undefined): bigint => {
      if (text === undefined) return 0n;
      const d = decimal(text);
      return (d.units * 10n ** BigInt(digits)) / 10n ** BigInt(d.scale);
    };
    const usage = this.#lines(events, toMinor);
    // Late usage: one group per original month (its lines are separate from this month's).
    const byMonth = new Map<string, UsageEvent[]>();
    for (const e of late) {
      const month = new Date(e.occurred_at).toISOString().slice(0, 7);
      byMonth.set(month, [...(byMonth.get(month) ?? []), e]);
    }
    let adjustments = 0n;
    for (const list of byMonth.values()) adjustments += this.#lines(list, toMinor);
    const subtotal = usage + adjustments;
    const commitment = major(terms.minimum_commitment);
    const topUp = commitment > subtotal ? commitment - subtotal : 0n;
    let left = subtotal + topUp;
    if (terms.discount_percent !== undefined) {
      const p = decimal(terms.discount_percent);
      left -= halfEven(left * p.units, 100n * 10n ** BigInt(p.scale));
    }
    const fixed = major(terms.fixed_discount);
    left -= fixed < left ? fixed : left;
    const creditsLeft = major(terms.credits) - creditsUsedBefore;
    const credits = creditsLeft <= 0n ? 0n : creditsLeft < left ? creditsLeft : left;
    left -= credits;
    return { usage_minor: usage, adjustments_minor: adjustments, subtotal_minor: subtotal, total_minor: left, credits_applied_minor: credits, currency };
  }
}

/** The fleet config of an invoice test: the stream rig's topics and groups, the test's own queue, topics and directory. */
export function invoiceTestConfig(env: {
  brokers: readonly string[];
  redisUrl: string;
  usageEvents: string;
  usageRollups: string;
  rawSinkGroup: string;
  rollupGroup: string;
  rollupSinkGroup: string;
  pricingDir: string;
  database: string;
  extra?: Record<string, string>;
}): { config: FleetConfig; env: Record<string, string> } {
  const name = uniqueName('invoices');
  const vars: Record<string, string> = {
    KAFKA_BROKERS: env.brokers.join(','),
    REDIS_URL: env.redisUrl,
    METERLINE_TOPIC_USAGE_EVENTS: env.usageEvents,
    METERLINE_TOPIC_USAGE_ROLLUPS: env.usageRollups,
    METERLINE_TOPIC_INVOICES: name,
    METERLINE_TOPIC_INVOICE_ALERTS: `${name}-alerts`,
    METERLINE_INVOICE_QUEUE: name,
    METERLINE_INVOICE_DIR: mkdtempSync(join(tmpdir(), 'meterline-invoices-')),
    METERLINE_INVOICE_CATCH_UP_TIMEOUT: '60s',
    METERLINE_SINK_GROUP: env.rawSinkGroup,
    METERLINE_ROLLUP_GROUP: env.rollupGroup,
    METERLINE_ROLLUP_SINK_GROUP: env.rollupSinkGroup,
    METERLINE_ALLOWED_LATENESS: '2h',
    METERLINE_PRICING_DIR: env.pricingDir,
    CLICKHOUSE_DATABASE: env.database,
    LOG_LEVEL: 'warn',
    ...env.extra,
  };
  return { config: fleetConfigSchema.parse(vars), env: vars };
}

export { readTopic } from './read-topic';

export interface Pipeline {
  rig: StreamRig;
  rawSinkGroup: string;
  rollupSinkGroup: string;
  record(events: readonly UsageEvent[]): Promise<void>;
  caughtUp(): Promise<void>;
}

/** The stream rig plus a raw-events sink: events reach usage_events, the rollups and Redis. */
export async function pipeline(brokers: string[], partitions = 3, handle?: ClickHouseHandle): Promise<Pipeline> {
  const rig = await streamRig(brokers, partitions, handle === undefined ? {} : { handle });
  const rawSinkGroup = uniqueName('raw-sink');
  const rollupSinkGroup = uniqueName('rollup-sink');
  const rawSink = new ClickHouseSink(rig.kafka, usageEventsStream(new UsageEventsTable(rig.handle), {}, rig.prices), { groupId: rawSinkGroup, topic: rig.topics.usageEvents, dlqTopic: `${rig.topics.usageEvents}.dlq`, flushRows: 5_000, flushMs: 200, sessionTimeoutMs: 10_000 }, testLog);
  await rawSink.start();
  const stopRaw = rig.close.bind(rig);
  rig.close = async () => {
    await rawSink.stop();
    await stopRaw();
  };
  await rig.startConsumer(rawSinkGroup);
  await rig.startRollupSink(rollupSinkGroup);
  return {
    rig,
    rawSinkGroup,
    rollupSinkGroup,
    async record(events) {
      for (const e of events) rig.meter.record(e);
      await rig.meter.flush();
    },
    async caughtUp() {
      for (const [group, topic] of [[rawSinkGroup, rig.topics.usageEvents], [rig.groupId, rig.topics.usageEvents], [rollupSinkGroup, rig.topics.usageRollups]] as const) {
        await waitFor(() => rig.groupLag(group, topic), (lag) => lag === 0, { what: `${group} to commit everything`, timeoutMs: 120_000, intervalMs: 250 });
      }
    },
  };
}

/**
 * Generated traffic of the month (the 48 hours before `endMs`: by default the end of last month),
 * priced models only (an unpriced model blocks invoices: tested apart).
 */
export function monthOfTraffic(reference: ReferencePrices, tenants: readonly string[], events: number, seed: number, endMs = monthEnd()): { arrivals: UsageEvent[]; distinct: UsageEvent[] } {
  const stream = generateStream({ events, tenants, seed, endMs });
  const priced = new Set(stream.distinct.filter((e) => reference.chargeLines(e) !== null).map((e) => e.event_id));
  return { arrivals: stream.arrivals.filter((e) => priced.has(e.event_id)), distinct: stream.distinct.filter((e) => priced.has(e.event_id)) };
}

/** Waits until BullMQ has nothing waiting or running on the queue (the scheduler's next run aside). */
export async function queueIdle(queue: Queue): Promise<void> {
  await waitFor(() => queue.getJobCounts('active', 'waiting', 'prioritized'), (c) => (c.active ?? 0) + (c.waiting ?? 0) + (c.prioritized ?? 0) === 0, { what: 'the invoice queue to drain', timeoutMs: 120_000, intervalMs: 200 });
}

/** Replaces the billing terms file of a pricing directory (format meterline.tenant-billing/v1). */
export function writeBillingTerms(pricingDir: string, tenants: readonly BillingDoc[]): void {
  writeFileSync(join(pricingDir, 'tenants/billing.json'), JSON.stringify({ format: 'meterline.tenant-billing/v1', tenants }, null, 2));
}

/**
 * A price correction: a new rate card version of the model `event` names (by name or alias),
 * in force from `fromMs`, at other prices. Returns the version's id.
 */
export function correctRateCard(pricingDir: string, event: Pick<UsageEvent, 'provider' | 'model'>, fromMs: number, prices: { input: string; output: string }): string {
  const path = join(pricingDir, 'catalog/rate-card.json');
  const book = JSON.parse(readFileSync(path, 'utf8')) as { models: { provider: string; model: string; aliases?: string[]; versions: unknown[] }[] };
  const model = book.models.find((m) => m.provider === event.provider && (m.model === event.model || (m.aliases ?? []).includes(event.model)));
  if (model === undefined) throw new Error(`correctRateCard: ${event.provider}/${event.model} is not on the rate card`);
  const label = `corrected-${fromMs}`;
  model.versions.push({ effective_from: new Date(fromMs).toISOString(), label, prices });
  writeFileSync(path, JSON.stringify(book, null, 2));
  return `${model.provider}/${model.model}@${label}`;
}
