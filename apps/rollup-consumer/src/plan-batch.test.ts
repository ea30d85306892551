import { describe, expect, it } from 'vitest';
import { usageEventV2Defaults, parseQuotaDefinition, type EventMoney, type QuotaDefinition, type UsageEvent } from '@meterline/domain';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EVENT_FORMAT, QUOTA_ENTRY_FORMAT, UNIT_ENTRY_FORMAT, eventIdHash, joinPico, planTenantBatch, splitPico, thresholdTrigger } from './plan-batch';

describe('splitPico', () => {
  const MAX = BigInt(Number.MAX_SAFE_INTEGER);
  it.each([
    [0n, '0', '0'],
    [1n, '0', '1'],
    [999_999n, '0', '999999'],
    [1_000_000n, '1', '0'],
    [1_234_567_890n, '1234', '567890'],
    [-1n, '-1', '999999'],
    [-1_000_000n, '-1', '0'],
    [-1_000_001n, '-2', '999999'],
    [MAX, '9007199254', '740991'],
    [-MAX, '-9007199255', '259009'],
    // Past 2^53 the BigInt path takes over; the split is the same rule.
    [MAX + 1n, '9007199254', '740992'],
    [2n ** 63n - 1n, '9223372036854', '775807'],
    [-(2n ** 70n), '-1180591620717412', '696576'],
  ])('%s -> (%s, %s) with 0 <= lo < 10^6, and joins back', (amount, hi, lo) => {
    const [h, l] = splitPico(amount);
    expect([String(h), String(l)]).toEqual([hi, lo]);
    expect(joinPico(h, l)).toBe(amount);
  });

  it('agrees with the BigInt split on random amounts around the double boundary', () => {
    let seed = 7n;
    for (let i = 0; i < 2_000; i++) {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
      const amount = (seed % (4n * MAX)) - 2n * MAX;
      const [h, l] = splitPico(amount);
      const lo = ((amount % 1_000_000n) + 1_000_000n) % 1_000_000n;
      expect([BigInt(h), BigInt(l)]).toEqual([(amount - lo) / 1_000_000n, lo]);
    }
  });
});

describe('thresholdTrigger', () => {
  it.each([
    [100n, 50, 50n],
    [3n, 50, 2n],
    [10n ** 15n, 80, 8n * 10n ** 14n],
    [2n ** 63n - 1n, 100, 2n ** 63n - 1n],
  ])('limit %s at %s%% triggers at %s', (limit, threshold, trigger) => {
    expect(thresholdTrigger(limit, threshold)).toBe(trigger);
  });
});

describe('planTenantBatch: the packed layout apply-usage-batch-2.lua reads', () => {
  const DAY = 86_400_000;
  const midnight = Date.UTC(2026, 10, 23);
  const event = (i: number, change: Partial<UsageEvent>): UsageEvent => ({
    ...usageEventV2Defaults(),
    event_id: `e-${i}`,
    occurred_at: midnight,
    tenant_id: 'acme',
    project_id: null,
    api_key_hash: null,
    client_id: null,
    user_id: null,
    trace_id: null,
    endpoint_id: null,
    provider: 'openai',
    model: 'gpt-4o',
    operation: 'chat',
    input_tokens: 10,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 5,
    reasoning_tokens: 0,
    latency_ms: null,
    ttft_ms: null,
    status_code: 200,
    error_type: null,
    metadata: {},
    ...change,
  });
  const quota = (quota_id: string, metric: string, period: string): QuotaDefinition =>
    parseQuotaDefinition({ tenant_id: 'acme', quota_id, metric, period, limit: '1000000', enforcement: 'soft', updated_at: 1 });
  const money = (costPico: bigint): EventMoney => ({ costPico, chargePico: 2n * costPico, cacheSavingsPico: -costPico, costPriced: costPico > 0n, chargePriced: costPico > 0n, costVersion: costPico > 0n ? 'openai/gpt-4o@1' : null, chargeVersion: costPico > 0n ? 'card/gpt-4o@1' : null, unpriced: null });

  /** Reads a struct format (the subset the script uses) off a buffer, as Lua's struct.unpack does. */
  function unpack(format: string, buffer: Buffer, from: number): { values: (string | number)[]; next: number } {
    const values: (string | number)[] = [];
    let at = from;
    for (const [, code, size] of format.replaceAll(' ', '').slice(1).matchAll(/([cdIBH])(\d*)/g)) {
      const width = code === 'c' || code === 'I' ? Number(size) : code === 'd' ? 8 : code === 'H' ? 2 : 1;
      if (code === 'c') values.push(buffer.toString('latin1', at, at + width));
      else if (code === 'd') values.push(buffer.readDoubleLE(at));
      else if (code === 'I') values.push(buffer.readUInt32LE(at));
      else if (code === 'H') values.push(buffer.readUInt16LE(at));
      else values.push(buffer.readUInt8(at));
      at += width;
    }
    return { values, next: at };
  }

  /** Reads the arguments back the way the script does (its header is the layout). */
  function parse(args: readonly (string | number | Buffer)[]) {
    let i = 5;
    const next = (): string | number | Buffer => args[i++]!;
    const list = (width: number): (string | number | Buffer)[][] => Array.from({ length: Number(next()) }, () => Array.from({ length: width }, next));
    const groups = list(3);
    const slots = Array.from({ length: Number(next()) }, () => {
      const head = [next(), next(), next(), next()];
      const n = Number(next());
      return { key: head[0], total: head[3], thresholds: Array.from({ length: 2 * n }, next) };
    });
    const versions = list(1).map(([v]) => v);
    const errorClasses = list(1).map(([v]) => v);
    const statusClasses = list(1).map(([v]) => v);
    const unitNames = list(1).map(([v]) => v);
    const maxOccurredAt = next();
    const count = Number(next());
    const packed = next() as Buffer;
    let at = 0;
    const events = Array.from({ length: count }, () => {
      const fixed = unpack(EVENT_FORMAT, packed, at);
      at = fixed.next;
      const [id, ...f] = fixed.values;
      const entries = Array.from({ length: f[f.length - 1] as number }, () => {
        const entry = unpack(QUOTA_ENTRY_FORMAT, packed, at);
        at = entry.next;
        return entry.values as number[];
      });
      // A negative amount: past a double, the next decimal string after the packed events.
      const amounts = entries.map(([, amount]) => (amount! < 0 ? next() : String(amount)));
      const n = packed.readUInt16LE(at);
      at += 2;
      const units = Array.from({ length: n }, () => {
        const entry = unpack(UNIT_ENTRY_FORMAT, packed, at);
        at = entry.next;
        return [unitNames[(entry.values[0] as number) - 1], entry.values[1]];
      });
      return { id, f, quotas: entries.map(([qi]) => qi), amounts, units };
    });
    expect(at).toBe(packed.length);
    expect(i).toBe(args.length);
    return { groups, slots, versions, errorClasses, statusClasses, unitNames, maxOccurredAt, events };
  }

  it('the script reads the same layout', () => {
    const lua = readFileSync(fileURLToPath(new URL('../../../libs/redis/src/scripts/apply-usage-batch-2.lua', import.meta.url)), 'utf8');
    expect(lua).toContain(`local EVENT = '${EVENT_FORMAT}'`);
    expect(lua).toContain(`local QUOTA_ENTRY = '${QUOTA_ENTRY_FORMAT}'`);
    const fixed = Buffer.alloc(200);
    expect(unpack(EVENT_FORMAT, fixed, 0).next).toBe(Number(/local FIXED = (\d+)/.exec(lua)?.[1]));
    expect(unpack(EVENT_FORMAT.slice(0, EVENT_FORMAT.lastIndexOf(' ')), fixed, 0).next).toBe(Number(/local K_AT = (\d+)/.exec(lua)?.[1]));
    expect(unpack(QUOTA_ENTRY_FORMAT, fixed, 0).next).toBe(12);
    expect(lua).toContain(`local UNIT_ENTRY = '${UNIT_ENTRY_FORMAT}'`);
    expect(unpack(UNIT_ENTRY_FORMAT, fixed, 0).next).toBe(10);
    const toLatency = EVENT_FORMAT.replaceAll(' ', '').replace(/^<c12dI4d(d{10})BB.*$/, '<c12 d I4 d $1 B B');
    expect(unpack(toLatency, fixed, 0).next).toBe(Number(/local LAT_AT = (\d+)/.exec(lua)?.[1]));
  });

  it('lays out groups, quota slots across a day boundary, classes, money and amounts', () => {
    const events = [
      event(0, { occurred_at: midnight - 1 }), // day 1
      event(1, { occurred_at: midnight, status_code: 429, error_type: 'rate_limit' }), // day 2
      event(2, { occurred_at: midnight - 2, project_id: 'p"1' }), // day 1 again: its slot is reused
      event(3, { occurred_at: midnight + DAY / 2, output_tokens: 0, input_tokens: 0 }), // no tokens: no token quota
    ];
    const quotas = [quota('daily', 'total_tokens', 'day'), quota('requests', 'requests', 'month'), quota('spend', 'cost_pico_usd', 'month')];
    const costs = [1_234_567_891n, 0n, 5n, 2n ** 60n];
    const plan = planTenantBatch('acme', 3, events.map((e, i) => ({ offset: String(100 + i), event: e })), quotas, {
      allowedLatenessMs: 1,
      dedupWindowSeconds: 2,
      price: (e) => money(costs[Number(e.event_id.slice(2))]!),
    });
    const parsed = parse(plan.args);
    expect(parsed.groups.map(([hour, dims]) => [hour, dims])).toEqual([
      [midnight - 3_600_000, JSON.stringify(['', 'openai', 'gpt-4o', 'chat'])],
      [midnight, JSON.stringify(['', 'openai', 'gpt-4o', 'chat'])],
      [midnight - 3_600_000, JSON.stringify(['p"1', 'openai', 'gpt-4o', 'chat'])],
      [midnight + 12 * 3_600_000, JSON.stringify(['', 'openai', 'gpt-4o', 'chat'])],
    ]);
    expect(parsed.slots.map((s) => s.key)).toEqual([`daily:${midnight - DAY}`, `requests:${Date.UTC(2026, 10, 1)}`, `spend:${Date.UTC(2026, 10, 1)}`, `daily:${midnight}`]);
    // Totals over all the events of the call; -1 where an amount is past a double (2^60 here).
    expect(parsed.slots.map((s) => s.total)).toEqual([30, 4, -1, 15]);
    expect(parsed.maxOccurredAt).toBe(midnight + DAY / 2);
    expect(parsed.versions).toEqual(['openai/gpt-4o@1', 'card/gpt-4o@1']);
    expect(parsed.errorClasses).toEqual(['rate_limit']);
    expect(parsed.statusClasses).toEqual(['2xx', '4xx']);
    const [e0, e1, e2, e3] = parsed.events;
    expect(e0!.id).toBe(eventIdHash('e-0'));
    // offset, group, time, the ten buckets, error class, status class, latency, ttft, money parts, versions, K
    expect(e0!.f).toEqual([100, 1, midnight - 1, 10, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 1, -1, -1, 1234, 567891, 2469, 135782, -1235, 432109, 1, 2, 3]);
    expect(e0!.quotas).toEqual([1, 2, 3]);
    expect(e0!.amounts).toEqual(['15', '1', '1234567891']);
    expect(e0!.units).toEqual([]);
    expect(e1!.f.slice(13, 15)).toEqual([1, 2]);
    expect(e1!.f.slice(23, 26)).toEqual([0, 0, 2]); // unpriced: version 0; no cost: no spend amount
    expect(e1!.quotas).toEqual([4, 2]);
    expect(e2!.quotas).toEqual([1, 2, 3]);
    expect(e2!.amounts).toEqual(['15', '1', '5']);
    expect(e3!.quotas).toEqual([2, 3]);
    expect(e3!.amounts).toEqual(['1', (2n ** 60n).toString()]);
    expect(e3!.f.slice(17, 19)).toEqual([Number(2n ** 60n / 1_000_000n), Number(2n ** 60n % 1_000_000n)]);
  });

  it('lays out the v2 buckets, units (names once per call, zero counts left out) and latency in whole microseconds', () => {
    const events = [
      event(0, { cache_write_1h_tokens: 4_096, audio_input_tokens: 17, audio_output_tokens: 23, image_input_tokens: 1_568, image_output_tokens: 2, units: { web_search: 3, web_fetch: 0 }, latency_ms: 1_834.2716, ttft_ms: 0.0004 }),
      event(1, { units: { code_execution: 1, web_search: 2 }, latency_ms: 12 }),
    ];
    const parsed = parse(planTenantBatch('acme', 0, events.map((e, i) => ({ offset: String(i), event: e })), [], { allowedLatenessMs: 1, dedupWindowSeconds: 1, price: () => money(0n) }).args);
    expect(parsed.unitNames).toEqual(['web_search', 'code_execution']);
    const [e0, e1] = parsed.events;
    expect(e0!.f.slice(3, 13)).toEqual([10, 0, 0, 4_096, 5, 0, 17, 23, 1_568, 2]);
    expect(e0!.f.slice(15, 17)).toEqual([1_834_272, 0]);
    expect(e0!.units).toEqual([['web_search', 3]]);
    expect(e1!.f.slice(15, 17)).toEqual([12_000, -1]);
    expect(e1!.units).toEqual([['code_execution', 1], ['web_search', 2]]);
  });

  it('refuses an offset a double cannot hold exactly', () => {
    expect(() => planTenantBatch('acme', 0, [{ offset: '9007199254740993', event: event(0, {}) }], [], { allowedLatenessMs: 1, dedupWindowSeconds: 1, price: () => money(0n) })).toThrow(/past 2\^53/);
  });
});

describe('planTenantBatch: rollup groups', () => {
  it('keeps dimension combinations apart whatever characters they hold', () => {
    const base = { ...usageEventV2Defaults(), event_id: 'x', occurred_at: Date.UTC(2026, 10, 23), tenant_id: 'acme', api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null, model: 'm', operation: 'chat', input_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, latency_ms: null, ttft_ms: null, status_code: 200, error_type: null, metadata: {} };
    const events: UsageEvent[] = [
      { ...base, event_id: 'a', project_id: 'p\u0000q', provider: 'r' },
      { ...base, event_id: 'b', project_id: 'p', provider: 'q\u0000r' },
      { ...base, event_id: 'c', project_id: '1:p', provider: 'r' },
      { ...base, event_id: 'd', project_id: null, provider: '1:p1:r' },
    ];
    const plan = planTenantBatch('acme', 0, events.map((event, i) => ({ offset: String(i), event })), [], { allowedLatenessMs: 1, dedupWindowSeconds: 1, price: () => ({ costPico: 0n, chargePico: 0n, cacheSavingsPico: 0n, costPriced: false, chargePriced: false, costVersion: null, chargeVersion: null, unpriced: null }) });
    expect(plan.args[5]).toBe(4);
    expect(plan.args.slice(6, 18).filter((_, i) => i % 3 === 1)).toEqual(events.map((e) => JSON.stringify([e.project_id ?? '', e.provider, e.model, e.operation])));
  });
});

describe('planTenantBatch: group sums (the script starts on-time groups from them)', () => {
  const base: UsageEvent = { ...usageEventV2Defaults(), event_id: 'x', occurred_at: Date.UTC(2026, 10, 23, 10), tenant_id: 'acme', project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null, provider: 'openai', model: 'gpt-4o', operation: 'chat', input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, latency_ms: null, ttft_ms: null, status_code: 200, error_type: null, metadata: {} };
  const unpriced: EventMoney = { costPico: 0n, chargePico: 0n, cacheSavingsPico: 0n, costPriced: false, chargePriced: false, costVersion: null, chargeVersion: null, unpriced: null };
  const priced = (cost: bigint): EventMoney => ({ costPico: cost, chargePico: 2n * cost, cacheSavingsPico: -cost, costPriced: true, chargePriced: true, costVersion: 'c@1', chargeVersion: 'h@1', unpriced: null });

  /** Reads a group's packed sums back (the layout of the script's header). */
  function readSums(packed: Buffer | string) {
    if (typeof packed === 'string') return packed;
    const values = Array.from({ length: 26 }, (_, i) => packed.readDoubleLE(8 * i));
    let at = 8 * 26;
    const lists = Array.from({ length: 5 }, () => {
      const n = packed.readUInt16LE(at);
      at += 2;
      return Array.from({ length: n }, () => {
        const entry = [packed.readUInt16LE(at), packed.readDoubleLE(at + 2)];
        at += 10;
        return entry;
      });
    });
    expect(at).toBe(packed.length);
    return { values, lists };
  }

  it('sums every event of the group, maxima and counts by class and version included', () => {
    const events: UsageEvent[] = [
      { ...base, event_id: 'a', input_tokens: 10, output_tokens: 5, latency_ms: 300, ttft_ms: 40, units: { web_search: 2 } },
      { ...base, event_id: 'b', input_tokens: 7, cache_read_tokens: 3, reasoning_tokens: 2, latency_ms: 900.5, status_code: 429, error_type: 'rate_limit', cache_write_1h_tokens: 6, units: { web_search: 3, code_execution: 1 } },
      { ...base, event_id: 'c', cache_write_tokens: 4, ttft_ms: 90, status_code: 200, audio_input_tokens: 7, image_output_tokens: 1 },
    ];
    const money = new Map([['a', priced(1_234_567n)], ['b', unpriced], ['c', priced(5n)]]);
    const plan = planTenantBatch('acme', 0, events.map((event, i) => ({ offset: String(i), event })), [], { allowedLatenessMs: 1, dedupWindowSeconds: 1, price: (e) => money.get(e.event_id)! });
    expect(plan.args[5]).toBe(1);
    const sums = readSums(plan.args[8] as Buffer);
    // requests, in, cr, cw, cw1h, out, rs, audio in/out, image in/out, errors, lat sum/count/max (us), ttft sum/count/max (us),
    // cost hi/lo, charge hi/lo, savings hi/lo, unpriced cost/charge
    expect(sums).toEqual({
      values: [3, 17, 3, 4, 6, 5, 2, 7, 0, 0, 1, 1, 1_200_500, 2, 900_500, 130_000, 2, 90_000, 1, 234572, 2, 469144, -3, 1765428, 1, 1],
      // error classes (rate_limit = 1), status classes (2xx = 1, 4xx = 2), cost and charge versions (c@1 = 1, h@1 = 2), units (web_search = 1, code_execution = 2: summed counts)
      lists: [[[1, 1]], [[1, 2], [2, 1]], [[1, 2]], [[2, 2]], [[1, 5], [2, 1]]],
    });
  });

  it('sends no sums for a group whose sum passes 2^53 (the script sums it event by event)', () => {
    const big = Number.MAX_SAFE_INTEGER - 1;
    const events: UsageEvent[] = [
      { ...base, event_id: 'a', input_tokens: big },
      { ...base, event_id: 'b', input_tokens: big },
      { ...base, event_id: 'c', provider: 'anthropic', input_tokens: big },
    ];
    const plan = planTenantBatch('acme', 0, events.map((event, i) => ({ offset: String(i), event })), [], { allowedLatenessMs: 1, dedupWindowSeconds: 1, price: () => unpriced });
    expect(plan.args[5]).toBe(2);
    expect(plan.args[8]).toBe('');
    expect(readSums(plan.args[11] as Buffer)).toMatchObject({ values: expect.arrayContaining([big]) as unknown });
  });
});
