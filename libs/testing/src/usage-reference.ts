import type { UsageEvent } from '@meterline/domain';

export interface TenantReference {
  events: number;
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
}

/** An independent reference: per-tenant counts and token sums of what a test recorded. */
export class UsageReference {
  readonly byTenant = new Map<string, TenantReference>();
  readonly #seen = new Set<string>();

  add(event: UsageEvent): void {
    if (this.#seen.has(event.event_id)) return;
    this.#seen.add(event.event_id);
    let t = this.byTenant.get(event.tenant_id);
    if (!t) {
      t = { events: 0, input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0 };
      this.byTenant.set(event.tenant_id, t);
    }
    t.events++;
    t.input_tokens += event.input_tokens;
    t.cache_read_tokens += event.cache_read_tokens;
    t.cache_write_tokens += event.cache_write_tokens;
    t.output_tokens += event.output_tokens;
    t.reasoning_tokens += event.reasoning_tokens;
  }

  get events(): number {
    return this.#seen.size;
  }

  /** Sorted by tenant, numbers as strings: the shape of UsageEventsTable.tenantTotals. */
  expectedTotals(): { tenant_id: string; events: string; input_tokens: string; cache_read_tokens: string; cache_write_tokens: string; output_tokens: string; reasoning_tokens: string }[] {
    return [...this.byTenant.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([tenant_id, t]) => ({
        tenant_id,
        events: String(t.events),
        input_tokens: String(t.input_tokens),
        cache_read_tokens: String(t.cache_read_tokens),
        cache_write_tokens: String(t.cache_write_tokens),
        output_tokens: String(t.output_tokens),
        reasoning_tokens: String(t.reasoning_tokens),
      }));
  }
}
