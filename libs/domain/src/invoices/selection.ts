import type { TenantBilling, TenantBillingBook } from './billing-terms';
import { belowCut, type BillableEvent } from './tenant-invoice';

/**
 * Who gets an invoice for a month: a tenant with usage to bill (events of the month below its
 * cut, or late usage of earlier months), or one whose terms carry a minimum commitment (the
 * commitment is owed with no usage at all). A tenant with neither gets no invoice, not an empty
 * one, even when a run names it.
 */

/** Tenants whose terms carry a minimum commitment, sorted. */
export function commitmentTenants(book: TenantBillingBook): string[] {
  return [...book.tenants.values()].filter(hasCommitment).map((t) => t.tenant_id).sort();
}

function hasCommitment(billing: TenantBilling): boolean {
  return (billing.terms.minimum_commitment_minor ?? 0n) > 0n;
}

/** The tenants a close queues: those with usage to bill and those with a commitment; sorted, each once. */
export function tenantsForClose(withUsage: readonly string[], book: TenantBillingBook): string[] {
  return [...new Set([...withUsage, ...commitmentTenants(book)])].sort();
}

/** Whether the tenant is invoiced for the month, from its stored events and terms. */
export function invoiceDue(input: { events: readonly Pick<BillableEvent, 'source_partition' | 'source_offset'>[]; lateEvents: readonly unknown[]; cut: readonly number[]; billing: TenantBilling }): boolean {
  return input.lateEvents.length > 0 || input.events.some((e) => belowCut(e, input.cut)) || hasCommitment(input.billing);
}
