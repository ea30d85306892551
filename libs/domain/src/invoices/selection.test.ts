import { describe, expect, it } from 'vitest';
import { defaultBilling, parseTenantBilling } from './billing-terms';
import { commitmentTenants, invoiceDue, tenantsForClose } from './selection';

const book = parseTenantBilling(
  {
    format: 'meterline.tenant-billing/v1',
    tenants: [
      { tenant_id: 'committed', minimum_commitment: '500.00' },
      { tenant_id: 'zero-commitment', minimum_commitment: '0' },
      { tenant_id: 'discounted', discount_percent: '5' },
      { tenant_id: 'a-committed-yen', currency: 'JPY', exchange_rate: '150', minimum_commitment: '10000' },
    ],
  },
  'billing.json',
);

describe('who gets an invoice for a month', () => {
  it('tenants with a minimum commitment above zero', () => {
    expect(commitmentTenants(book)).toEqual(['a-committed-yen', 'committed']);
  });

  it('a close queues tenants with usage and tenants with a commitment, sorted, each once', () => {
    expect(tenantsForClose(['zeta', 'committed', 'alpha'], book)).toEqual(['a-committed-yen', 'alpha', 'committed', 'zeta']);
    expect(tenantsForClose([], { source: 'none', tenants: new Map() })).toEqual([]);
  });

  const cut = [10, 5];
  const below = { source_partition: 0, source_offset: 9 };
  const atCut = { source_partition: 1, source_offset: 5 };
  const unknownPartition = { source_partition: 2, source_offset: 0 };
  it.each<[string, { events: { source_partition: number; source_offset: number }[]; late: number; tenant: string }, boolean]>([
    ['usage below the cut', { events: [below, atCut], late: 0, tenant: 'someone' }, true],
    ['only usage at or past the cut (billed next month as late usage)', { events: [atCut, unknownPartition], late: 0, tenant: 'someone' }, false],
    ['only late usage of earlier months', { events: [], late: 1, tenant: 'someone' }, true],
    ['no usage, no commitment', { events: [], late: 0, tenant: 'discounted' }, false],
    ['no usage, a commitment', { events: [], late: 0, tenant: 'committed' }, true],
    ['no usage, a commitment of zero', { events: [], late: 0, tenant: 'zero-commitment' }, false],
  ])('%s', (_what, c, due) => {
    const billing = book.tenants.get(c.tenant) ?? defaultBilling(c.tenant);
    expect(invoiceDue({ events: c.events, lateEvents: Array.from({ length: c.late }), cut, billing })).toBe(due);
  });
});
