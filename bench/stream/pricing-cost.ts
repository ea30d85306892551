// What pricing adds per event in the rollup consumer (CPU on the consumer; Redis time of the
// extra money arguments is in script-cost.ts): priceEvent on both books, and planning a batch
// with prices vs with a constant zero price. node --import tsx bench/stream/pricing-cost.ts
import { join } from 'node:path';
import { priceEvent, type EventMoney, type UsageEvent } from '@meterline/domain';
import { loadPriceBooks } from '@meterline/pricing';
import { planTenantBatch, type OffsetEvent } from '@meterline/rollup-consumer';
import { repoRoot, usageGenerator } from '@meterline/testing';

const books = loadPriceBooks(join(repoRoot(), 'pricing'));
const next = usageGenerator({ seed: 9, tenants: ['acme-corp', 'globex', 'list-a'], idPrefix: 'pc' });
const events: UsageEvent[] = Array.from({ length: 200_000 }, () => next());
const zero: EventMoney = { costPico: 0n, chargePico: 0n, cacheSavingsPico: 0n, costPriced: true, chargePriced: true, costVersion: 'zero@0', chargeVersion: 'zero@0', unpriced: null };
const usPer = (ms: number): string => ((ms * 1000) / events.length).toFixed(2);
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  for (const e of events) priceEvent(books, e);
  const price = performance.now() - t;
  const chunks: OffsetEvent[][] = [];
  for (let i = 0; i < events.length; i += 1_000) chunks.push(events.slice(i, i + 1_000).map((event, j) => ({ offset: String(i + j), event })));
  const plan = (p: (e: UsageEvent) => EventMoney): number => {
    const s = performance.now();
    for (const chunk of chunks) planTenantBatch('acme-corp', 0, chunk, [], { allowedLatenessMs: 7_200_000, dedupWindowSeconds: 86_400, price: p });
    return performance.now() - s;
  };
  t = plan(() => zero);
  const priced = plan((e) => priceEvent(books, e));
  console.log(`round ${round}: priceEvent ${usPer(price)} us/event; planTenantBatch ${usPer(t)} us/event with a zero price, ${usPer(priced)} us/event priced`);
}
