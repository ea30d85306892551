import { describe, expect, inject, it } from 'vitest';
import { usageEventCodec } from '@meterline/contract';
import { dlqHeaders, headerText } from '@meterline/kafka';
import { UsageReference, usageGenerator, waitFor } from '@meterline/testing';
import { rawPath, type RawPath } from './support/raw-path';
import { readTopic } from './support/read-topic';

const brokers = inject('kafkaBrokers');
const POISON = 'poison-tenant';

/**
 * A real rejection: the table refuses one tenant's rows (VIOLATED_CONSTRAINT on every insert
 * that holds one), while the events themselves are valid, so only the insert can reject them.
 */
async function rejectTenant(path: RawPath, tenant: string): Promise<void> {
  await path.handle.client.command({ query: `ALTER TABLE \`${path.database}\`.usage_events ADD CONSTRAINT no_poison CHECK tenant_id != '${tenant}'` });
}

/** Records `good` events and, spread among them, `poison` of the rejected tenant. */
function record(path: RawPath, seed: number, good: number, poison: number): { reference: UsageReference; poisonIds: Set<string>; meter: ReturnType<RawPath['newMeter']> } {
  const meter = path.newMeter();
  const next = usageGenerator({ seed, idPrefix: `rejected-${seed}` });
  const reference = new UsageReference();
  const poisonIds = new Set<string>();
  const every = Math.floor(good / poison);
  for (let i = 0; i < good; i++) {
    const event = next();
    meter.record(event);
    reference.add(event);
    if (i % every === every - 1 && poisonIds.size < poison) poisonIds.add(meter.record({ ...next(), tenant_id: POISON }));
  }
  return { reference, poisonIds, meter };
}

const totalsOf = (rows: readonly { tenant_id: string; events: string; input_tokens: string; output_tokens: string }[]) =>
  rows.map(({ tenant_id, events, input_tokens, output_tokens }) => ({ tenant_id, events, input_tokens, output_tokens }));

describe('sink: rows ClickHouse rejects', () => {
  it('dead-letter (default): the rejected rows go to the DLQ with the reason, every other row is written, the partition keeps flowing', async () => {
    const path = await rawPath(brokers, { partitions: 3 });
    try {
      await rejectTenant(path, POISON);
      const sink = await path.startSink({ flushMs: 200 });
      const { reference, poisonIds, meter } = record(path, 61, 3_000, 10);
      await meter.flush();
      expect(meter.stats()).toMatchObject({ sent: 3_010, spooled: 0 });
      await waitFor(() => path.sinkLag(), (lag) => lag === 0, { what: 'the sink to commit every message', timeoutMs: 120_000, intervalMs: 200 });

      const dlq = await readTopic(path.kafka, path.dlqTopic);
      const codec = usageEventCodec();
      expect(new Set(dlq.map((m) => codec.decode(m.value as Buffer).event_id))).toEqual(poisonIds);
      expect(dlq).toHaveLength(10);
      for (const message of dlq) {
        expect(headerText(message, dlqHeaders.reason)).toBe('insert_rejected');
        expect(headerText(message, dlqHeaders.detail)).toMatch(/VIOLATED_CONSTRAINT/);
        expect(headerText(message, dlqHeaders.detail)).not.toMatch(/rejected together/);
        expect(headerText(message, dlqHeaders.sourceTopic)).toBe(path.topic);
        expect(headerText(message, dlqHeaders.sourceOffset)).toMatch(/^\d+$/);
      }
      const counts = await path.table.counts();
      expect(counts.finalRows).toBe(3_000);
      expect(totalsOf(await path.table.tenantTotals())).toEqual(totalsOf(reference.expectedTotals()));
      expect(sink.stats()).toMatchObject({ rowsRejected: 10, deadLettered: 10, rowsWritten: 3_000, halted: undefined });
    } finally {
      await path.close();
    }
  });

  it('halt: the sink stops at the first rejected row with the reason, commits nothing past it, and a restart after the fix writes everything', async () => {
    const path = await rawPath(brokers, { partitions: 3 });
    try {
      await rejectTenant(path, POISON);
      const sink = await path.startSink({ flushMs: 200, rejectedRows: 'halt' });
      const group = path.sinkGroup as string;
      const { reference, poisonIds, meter } = record(path, 62, 1_000, 1);
      await meter.flush();
      await waitFor(() => sink.stats(), (s) => s.halted !== undefined, { what: 'the sink to halt', timeoutMs: 60_000 });
      expect(sink.stats().halted).toMatch(/halted: ClickHouse rejects rows of .*VIOLATED_CONSTRAINT/);
      expect(() => sink.assertReady()).toThrow(/VIOLATED_CONSTRAINT/);
      // The poison's flush was not committed, nor anything after it: its message is still lag.
      expect(await path.sinkLag()).toBeGreaterThan(0);
      expect(await readTopic(path.kafka, path.dlqTopic)).toEqual([]);
      await sink.stop();

      // The operator removes the constraint; the same group reads the batch again.
      await path.handle.client.command({ query: `ALTER TABLE \`${path.database}\`.usage_events DROP CONSTRAINT no_poison` });
      const restarted = await path.startSink({ flushMs: 200, rejectedRows: 'halt', groupId: group });
      await waitFor(() => path.sinkLag(), (lag) => lag === 0, { what: 'the restarted sink to commit every message', timeoutMs: 120_000, intervalMs: 200 });
      expect(restarted.stats().halted).toBeUndefined();
      expect((await path.table.counts()).finalRows).toBe(1_001);
      const poisonRows = (await path.table.tenantTotals(POISON))[0];
      expect(poisonRows?.events).toBe(String(poisonIds.size));
      const goodTotals = (await path.table.tenantTotals()).filter((t) => t.tenant_id !== POISON);
      expect(totalsOf(goodTotals)).toEqual(totalsOf(reference.expectedTotals()));
    } finally {
      await path.close();
    }
  });
});
