import { describe, expect, it } from 'vitest';
import { InvoiceInputError } from './errors';
import { pricedTotals, reconcileInvoiceInputs, type ReconcileInput, type UsageTotal } from './reconcile';
import type { PricedUsageAggregate } from './types';

const t = (model: string, bucket: UsageTotal['bucket'], quantity: bigint, provider = 'openai'): UsageTotal => ({ provider, model, bucket, quantity });

const agreed: UsageTotal[] = [t('gpt-4o', 'input', 1_000n), t('gpt-4o', 'output', 400n), t('gpt-4o', 'request', 7n), t('claude-sonnet-4', 'cache_write', 50n, 'anthropic')];

function input(over: Partial<ReconcileInput>): ReconcileInput {
  return { tenant_id: 'acme-corp', period: '2026-01', raw: agreed, rollup: agreed, priced: agreed, ...over };
}

describe('reconcileInvoiceInputs', () => {
  it('is ok when raw events, rollups and priced usage agree, whatever the order and splitting of rows', () => {
    const split = [t('gpt-4o', 'input', 600n), t('gpt-4o', 'request', 7n), t('gpt-4o', 'input', 400n), t('claude-sonnet-4', 'cache_write', 50n, 'anthropic'), t('gpt-4o', 'output', 400n)];
    expect(reconcileInvoiceInputs(input({ rollup: [...agreed].reverse(), priced: split }))).toEqual({ ok: true });
    expect(reconcileInvoiceInputs(input({ raw: [], rollup: [], priced: [] }))).toEqual({ ok: true });
    // A zero row is the same as no row.
    expect(reconcileInvoiceInputs(input({ priced: [...agreed, t('o3', 'reasoning', 0n)] }))).toEqual({ ok: true });
  });

  it('reports every mismatch in a readable table', () => {
    const result = reconcileInvoiceInputs(
      input({
        // Rollups lost 10 input tokens of gpt-4o; an unpriced model has no priced usage; the priced side double counts a request.
        raw: [...agreed, t('mystery-1', 'output', 25n)],
        rollup: [t('gpt-4o', 'input', 990n), t('gpt-4o', 'output', 400n), t('gpt-4o', 'request', 7n), t('claude-sonnet-4', 'cache_write', 50n, 'anthropic'), t('mystery-1', 'output', 25n)],
        priced: [t('gpt-4o', 'input', 1_000n), t('gpt-4o', 'output', 400n), t('gpt-4o', 'request', 8n), t('claude-sonnet-4', 'cache_write', 50n, 'anthropic')],
      }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.report).toBe(
      [
        'Reconciliation failed for tenant acme-corp, period 2026-01: 3 mismatches between raw events, rollups and priced usage',
        'tenant     period   model             bucket    raw  rollup  priced  difference',
        '---------  -------  ----------------  -------  ----  ------  ------  --------------',
        'acme-corp  2026-01  openai/gpt-4o     input    1000     990    1000  rollup-raw -10',
        'acme-corp  2026-01  openai/gpt-4o     request     7       7       8  priced-raw +1',
        'acme-corp  2026-01  openai/mystery-1  output     25      25       0  priced-raw -25',
        '',
      ].join('\n'),
    );
    expect(result.mismatches).toEqual([
      { tenant_id: 'acme-corp', period: '2026-01', provider: 'openai', model: 'gpt-4o', bucket: 'input', raw: 1_000n, rollup: 990n, priced: 1_000n },
      { tenant_id: 'acme-corp', period: '2026-01', provider: 'openai', model: 'gpt-4o', bucket: 'request', raw: 7n, rollup: 7n, priced: 8n },
      { tenant_id: 'acme-corp', period: '2026-01', provider: 'openai', model: 'mystery-1', bucket: 'output', raw: 25n, rollup: 25n, priced: 0n },
    ]);
  });

  it('names both differences when rollups and priced usage are both off', () => {
    const result = reconcileInvoiceInputs(input({ raw: [t('gpt-4o', 'output', 5n)], rollup: [t('gpt-4o', 'output', 3n)], priced: [t('gpt-4o', 'output', 9n)] }));
    expect(result.ok ? '' : result.report).toBe(
      [
        'Reconciliation failed for tenant acme-corp, period 2026-01: 1 mismatch between raw events, rollups and priced usage',
        'tenant     period   model          bucket  raw  rollup  priced  difference',
        '---------  -------  -------------  ------  ---  ------  ------  ----------------------------',
        'acme-corp  2026-01  openai/gpt-4o  output    5       3       9  rollup-raw -2, priced-raw +4',
        '',
      ].join('\n'),
    );
  });

  it.each<[string, Partial<ReconcileInput>, RegExp]>([
    ['an empty tenant', { tenant_id: '' }, /tenant_id/],
    ['a bad period', { period: 'January' }, /period/],
    ['a number quantity', { raw: [t('gpt-4o', 'input', 5 as unknown as bigint)] }, /raw\[0\]\.quantity/],
    ['a negative quantity', { rollup: [t('gpt-4o', 'input', -1n)] }, /rollup\[0\]\.quantity/],
    ['an unknown bucket', { priced: [t('gpt-4o', 'audio' as 'input', 1n)] }, /priced\[0\]\.bucket/],
  ])('rejects %s', (_what, over, message) => {
    expect(() => reconcileInvoiceInputs(input(over))).toThrow(InvoiceInputError);
    expect(() => reconcileInvoiceInputs(input(over))).toThrow(message);
  });
});

describe('pricedTotals', () => {
  it('sums priced usage per (provider, model, bucket) over price versions, tiers and thresholds', () => {
    const a = (over: Partial<PricedUsageAggregate>): PricedUsageAggregate => ({
      provider: 'openai',
      model: 'o3',
      price_version_id: 'openai/o3@2025-04-16',
      bucket: 'input',
      quantity: 0n,
      amount_pico: 0n,
      ...over,
    });
    expect(
      pricedTotals([
        a({ quantity: 100n }),
        a({ price_version_id: 'openai/o3@2025-06-10', quantity: 50n }),
        a({ tier: 'flex', quantity: 7n }),
        a({ threshold_above_prompt_tokens: 200_000, quantity: 3n }),
        a({ bucket: 'request', quantity: 4n }),
        a({ model: 'o3-mini', quantity: 1n }),
      ]),
    ).toEqual([t('o3', 'input', 160n), t('o3', 'request', 4n), t('o3-mini', 'input', 1n)]);
  });
});
