import { classifyError, quotaPeriod, type UsageEvent } from '@meterline/domain';
import { redisKeys } from '@meterline/redis';
import { pricedSampleModels, seededRandom, usageGenerator } from '@meterline/testing';

const HOUR = 3_600_000;
/** Codes of rejected events the client sends again (the fleet could not take them now). */
const PERMANENT_REJECTIONS = new Set(['EVENT_INVALID', 'API_KEY_HASH_NOT_ALLOWED', 'TENANT_FORBIDDEN']);

export interface HourlyTotals {
  requests: number;
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  errors: number;
}

/** The measures compared with the rollups, in a fixed order. */
export const hourlyMeasures = ['requests', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'errors'] as const;

/**
 * What the fleet must end up with, computed here from the distinct events the load generated
 * (never from anything the fleet says): hourly sums per rollup group, quota counters per
 * (tenant, quota, period), events per fault window. Incremental, so a soak does not keep its
 * millions of events.
 */
export class ChaosReference {
  readonly hourly = new Map<string, HourlyTotals>();
  /** Redis quota counter key -> total tokens. */
  readonly counters = new Map<string, bigint>();
  /** `${tenant}|${quota}|${periodLabel}` -> total tokens (for the expected alerts). */
  readonly periodTotals = new Map<string, bigint>();
  readonly perWindow = new Map<number, number>();
  distinct = 0;
  minOccurredAt = Number.POSITIVE_INFINITY;
  maxOccurredAt = 0;

  add(e: UsageEvent, window: number): void {
    this.distinct++;
    this.perWindow.set(window, (this.perWindow.get(window) ?? 0) + 1);
    this.minOccurredAt = Math.min(this.minOccurredAt, e.occurred_at);
    this.maxOccurredAt = Math.max(this.maxOccurredAt, e.occurred_at);
    const hour = new Date(Math.floor(e.occurred_at / HOUR) * HOUR).toISOString().replace('T', ' ').slice(0, 19);
    const key = [e.tenant_id, hour, e.project_id ?? '', e.provider, e.model, e.operation].join('|');
    let r = this.hourly.get(key);
    if (!r) this.hourly.set(key, (r = { requests: 0, input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, errors: 0 }));
    r.requests++;
    r.input_tokens += e.input_tokens;
    r.cache_read_tokens += e.cache_read_tokens;
    r.cache_write_tokens += e.cache_write_tokens;
    r.output_tokens += e.output_tokens;
    r.reasoning_tokens += e.reasoning_tokens;
    if (classifyError(e.error_type, e.status_code) !== null) r.errors++;
    const tokens = BigInt(e.input_tokens + e.cache_read_tokens + e.cache_write_tokens + e.output_tokens + e.reasoning_tokens);
    for (const [quota, period] of [['daily-total', 'day'], ['monthly-total', 'month']] as const) {
      const p = quotaPeriod({ period, time_zone: 'UTC' }, e.occurred_at);
      const counter = redisKeys.quotaCounter(e.tenant_id, quota, p.start);
      this.counters.set(counter, (this.counters.get(counter) ?? 0n) + tokens);
      const label = `${e.tenant_id}|${quota}|${p.label}`;
      this.periodTotals.set(label, (this.periodTotals.get(label) ?? 0n) + tokens);
    }
  }
}

export interface LoadOptions {
  apiUrl: string;
  token: string;
  seed: number;
  tenants: readonly string[];
  /** Distinct events per second offered. */
  ratePerSecond: number;
  batchSize?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Share of events stamped up to 3 h in the past (past the 2 h allowed lateness). */
  lateShare?: number;
  /** Share of events sent a second time later on (same event id). */
  duplicateShare?: number;
}

export interface LoadStats {
  /** Distinct events generated (each sent until accepted). */
  distinct: number;
  /** Events sent again on purpose (same id). */
  duplicatesSent: number;
  /** Events sent again because a request failed or the API could not take them (same id). */
  resent: number;
  posts: number;
  failedPosts: number;
  /** Events the API refused for good (a bug of the load or of the API: fails the run). */
  refused: { code: string; error: string }[];
}

interface Batch {
  events: UsageEvent[];
  attempts: number;
}

/**
 * Seeded load through POST /v1/events (the shim inside the API process), as a service sends
 * it: batches, some events stamped late, some sent twice, a producer clock that can be skewed.
 * A batch is sent until the API accepts each of its events: a failed request or a retriable
 * rejection sends the same events (same ids) again, so the fleet's dedup is what keeps them once.
 */
export class LoadDriver {
  readonly reference = new ChaosReference();
  readonly stats: LoadStats = { distinct: 0, duplicatesSent: 0, resent: 0, posts: 0, failedPosts: 0, refused: [] };
  readonly #options: Required<LoadOptions>;
  readonly #random: () => number;
  readonly #next: () => UsageEvent;
  readonly #queue: Batch[] = [];
  readonly #recent: UsageEvent[] = [];
  #window = 0;
  #skewMs = 0;
  #inFlight = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  #startedAt = 0;
  #offered = 0;
  #probeSeq = 0;

  constructor(options: LoadOptions) {
    this.#options = { batchSize: 500, concurrency: 4, lateShare: 0.05, duplicateShare: 0.02, ...options };
    this.#random = seededRandom(options.seed ^ 0x5eed);
    let late = 0;
    // The producer's clock: now, plus the skew of the moment, minus up to 3 h for a late event.
    this.#next = usageGenerator({ seed: options.seed, tenants: options.tenants, models: pricedSampleModels, idPrefix: `c${options.seed}`, occurredAt: () => Date.now() + this.#skewMs - late });
    const next = this.#next;
    this.#next = () => {
      late = this.#random() < this.#options.lateShare ? Math.floor(this.#random() * 3 * HOUR) : 0;
      return next();
    };
  }

  /** Events from now on are counted in this fault window (their ids say so: c<seed>w<window>-<n>). */
  setWindow(window: number): void {
    this.#window = window;
  }

  /** The producer's clock runs this far ahead (positive) or behind (negative). */
  setSkew(ms: number): void {
    this.#skewMs = ms;
  }

  start(): void {
    this.#running = true;
    this.#startedAt = Date.now();
    this.#loop = this.#run();
  }

  /**
   * One event in a rollup group of its own (project `chaos-probe-<n>`), sent before anything
   * queued: once it is in the rollups, the whole path works again.
   */
  probe(): string {
    const project = `chaos-probe-${++this.#probeSeq}`;
    const event = this.#generate(project);
    this.#queue.unshift({ events: [event], attempts: 0 });
    return project;
  }

  /** Rate actually offered so far (events per second). */
  offeredRate(): number {
    return this.stats.distinct / Math.max(1, (Date.now() - this.#startedAt) / 1000);
  }

  /** Stops generating; resolves once every generated event has been accepted by the API. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  #generate(project?: string): UsageEvent {
    const raw = this.#next();
    const event: UsageEvent = { ...raw, event_id: raw.event_id.replace(/^c(\d+)-/, `c$1w${this.#window}-`), ...(project === undefined ? {} : { project_id: project }) };
    this.reference.add(event, this.#window);
    this.stats.distinct++;
    return event;
  }

  async #run(): Promise<void> {
    const maxQueued = 200;
    while (this.#running || this.#queue.length > 0 || this.#inFlight > 0) {
      if (this.#running && this.#queue.length < maxQueued) {
        const due = Math.floor(((Date.now() - this.#startedAt) / 1000) * this.#options.ratePerSecond) - this.#offered;
        const count = Math.min(due, this.#options.batchSize * (maxQueued - this.#queue.length));
        for (let made = 0; made < count; ) {
          const events: UsageEvent[] = [];
          for (; events.length < this.#options.batchSize && made < count; made++) {
            const event = this.#generate();
            events.push(event);
            this.#recent.push(event);
            if (this.#recent.length > 2_000) this.#recent.splice(0, 1_000);
            if (this.#random() < this.#options.duplicateShare) {
              events.push(this.#recent[Math.floor(this.#random() * this.#recent.length)]!);
              this.stats.duplicatesSent++;
            }
          }
          this.#queue.push({ events, attempts: 0 });
        }
        this.#offered += Math.max(0, count);
      }
      while (this.#inFlight < this.#options.concurrency && this.#queue.length > 0) {
        const batch = this.#queue.shift()!;
        this.#inFlight++;
        void this.#send(batch).finally(() => this.#inFlight--);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async #send(batch: Batch): Promise<void> {
    batch.attempts++;
    this.stats.posts++;
    let retry: UsageEvent[] = batch.events;
    try {
      const response = await fetch(`${this.#options.apiUrl}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#options.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(batch.events.map(asRecord)),
        signal: AbortSignal.timeout(60_000),
      });
      const body = (await response.json().catch(() => undefined)) as { rejected?: { index: number; code: string; error: string }[] } | undefined;
      if (response.status === 202) retry = [];
      else if ((response.status === 207 || response.status === 400) && Array.isArray(body?.rejected)) {
        retry = [];
        for (const r of body.rejected) {
          if (PERMANENT_REJECTIONS.has(r.code)) this.stats.refused.push({ code: r.code, error: r.error });
          else retry.push(batch.events[r.index]!);
        }
      } else this.stats.failedPosts++;
    } catch {
      this.stats.failedPosts++;
    }
    if (retry.length === 0) return;
    this.stats.resent += retry.length;
    // A client's backoff before it sends the same events again (not a test's wait on the fleet).
    await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** Math.min(batch.attempts, 5))));
    this.#queue.push({ events: retry, attempts: batch.attempts });
  }
}

/** An event as a service sends it to POST /v1/events (no key hash: the server computes it). */
function asRecord(event: UsageEvent): Record<string, unknown> {
  const { api_key_hash: _hash, ...record } = event;
  return record;
}
