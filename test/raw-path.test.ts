import { inject, describe, expect, it } from 'vitest';
import { Partitioners } from 'kafkajs';
import { usageEventCodec } from '@meterline/contract';
import { dlqHeaders, headerText } from '@meterline/kafka';
import { UsageReference, usageGenerator, waitFor } from '@meterline/testing';
import { rawPath } from './support/raw-path';

const brokers = inject('kafkaBrokers');
const tenants20 = Array.from({ length: 20 }, (_, i) => `tenant-${String(i).padStart(2, '0')}`);

describe('raw path: shim -> Kafka -> sink -> ClickHouse', () => {
  it('lands 100,000 events from 20 tenants with exact counts and per-tenant token sums', async () => {
    const path = await rawPath(brokers);
    try {
      const sink = await path.startSink();
      const meter = path.newMeter();
      const next = usageGenerator({ seed: 100, tenants: tenants20, idPrefix: 'hundred-k' });
      const reference = new UsageReference();
      for (let i = 0; i < 100_000; i++) {
        const event = next();
        meter.record(event);
        reference.add(event);
      }
      await meter.flush();
      expect(meter.stats()).toMatchObject({ recorded: 100_000, sent: 100_000, spooled: 0, rejected: 0 });
      await waitFor(() => path.sinkLag(), (lag) => lag === 0, { what: 'the sink to commit all 100,000', timeoutMs: 120_000, intervalMs: 250 });
      const totals = await path.table.tenantTotals();
      expect(totals).toHaveLength(20);
      expect(totals.map(({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }))).toEqual(reference.expectedTotals());
      expect((await path.table.counts()).distinctEvents).toBe(100_000);
      expect(sink.stats().deadLettered).toBe(0);
    } finally {
      await path.close();
    }
  });

  it('counts 1,000 events recorded twice with the same event_ids once', async () => {
    const path = await rawPath(brokers, { partitions: 4 });
    try {
      const sink = await path.startSink({ flushMs: 200 });
      const meter = path.newMeter();
      const next = usageGenerator({ seed: 7, idPrefix: 'twice' });
      const events = Array.from({ length: 1_000 }, () => next());
      const reference = new UsageReference();
      for (const event of events) {
        meter.record(event);
        reference.add(event);
      }
      await meter.flush();
      // The retry arrives later, in other batches, as a client retry would.
      for (const event of events) meter.record(event);
      await meter.flush();
      // Every message committed, so both copies went through the sink (the second 1,000 are the duplicates).
      expect(meter.stats()).toMatchObject({ recorded: 2_000, sent: 2_000 });
      await waitFor(() => path.sinkLag(), (lag) => lag === 0, { what: 'the sink to commit both copies', timeoutMs: 120_000, intervalMs: 200 });
      expect(sink.stats().rowsWritten).toBe(2_000);
      const counts = await path.table.counts();
      expect(counts.finalRows).toBe(1_000);
      expect(counts.distinctEvents).toBe(1_000);
      const totals = await path.table.tenantTotals();
      expect(totals.map(({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }))).toEqual(reference.expectedTotals());
    } finally {
      await path.close();
    }
  });

  it('dead-letters 1,000 poison messages with their reason while every good event lands', async () => {
    const path = await rawPath(brokers, { partitions: 6 });
    try {
      const sink = await path.startSink({ flushMs: 200 });
      const codec = usageEventCodec();
      const next = usageGenerator({ seed: 11, idPrefix: 'good' });
      const reference = new UsageReference();
      const producer = path.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      const now = Date.now();
      const poisonKinds = [
        () => Buffer.from('{"tenant_id":"acme","input_tokens":5}'), // JSON, not Avro
        () => Buffer.from('c3010102030405060708aa', 'hex'), // unknown schema fingerprint
        () => Buffer.concat([codec.writer.header, Buffer.from([0x08, 0x61])]), // truncated body
        () => codec.encode({ ...next(), tenant_id: '' }), // decodes, breaks the contract
        () => codec.encode({ ...next(), input_tokens: -5 }),
      ];
      const messages = [];
      const poisonIds: string[] = [];
      for (let i = 0; i < 2_000; i++) {
        if (i % 2 === 1) {
          const kind = poisonKinds[i % poisonKinds.length]!;
          poisonIds.push(`poison-${i}`);
          messages.push({ key: 'acme', value: kind(), timestamp: String(now), headers: { 'poison-id': `poison-${i}` } });
        } else {
          const event = next();
          reference.add(event);
          messages.push({ key: event.tenant_id, value: codec.encode(event), timestamp: String(now) });
        }
      }
      for (let i = 0; i < messages.length; i += 250) await producer.send({ topic: path.topic, messages: messages.slice(i, i + 250) });
      await producer.disconnect();

      await waitFor(() => path.table.counts(), (c) => c.finalRows >= 1_000, { what: '1,000 good rows' });
      const dlq = await path.readDlq(1_000);
      expect(dlq).toHaveLength(1_000);
      expect(new Set(dlq.map((m) => headerText(m, 'poison-id')))).toEqual(new Set(poisonIds));
      const reasons = new Set(dlq.map((m) => headerText(m, dlqHeaders.reason)));
      expect(reasons).toEqual(new Set(['not_single_object_encoding', 'unknown_schema_fingerprint', 'malformed_body', 'invalid_event']));
      for (const message of dlq) {
        expect(headerText(message, dlqHeaders.sourceTopic)).toBe(path.topic);
        expect(Number(headerText(message, dlqHeaders.sourcePartition))).toBeGreaterThanOrEqual(0);
        expect(headerText(message, dlqHeaders.sourceOffset)).toMatch(/^\d+$/);
        expect(headerText(message, dlqHeaders.detail)!.length).toBeGreaterThan(10);
      }
      const contractBreach = dlq.find((m) => headerText(m, dlqHeaders.reason) === 'invalid_event' && headerText(m, dlqHeaders.detail)!.includes('input_tokens'));
      expect(headerText(contractBreach!, dlqHeaders.detail)).toContain('input_tokens must be a non-negative integer');
      const counts = await path.table.counts();
      expect(counts.finalRows).toBe(1_000);
      const totals = await path.table.tenantTotals();
      expect(totals.map(({ tenant_id, events, input_tokens, output_tokens }) => ({ tenant_id, events, input_tokens, output_tokens }))).toEqual(
        reference.expectedTotals().map(({ tenant_id, events, input_tokens, output_tokens }) => ({ tenant_id, events, input_tokens, output_tokens })),
      );
      expect(sink.stats().deadLettered).toBe(1_000);
    } finally {
      await path.close();
    }
  });

  it('pauses while ClickHouse fails, retries with backoff, catches up and loses nothing', async () => {
    const path = await rawPath(brokers, { partitions: 4 });
    try {
      const sink = await path.startSink({ flushMs: 200 });
      const meter = path.newMeter();
      const next = usageGenerator({ seed: 21, idPrefix: 'outage' });
      const reference = new UsageReference();
      const record = (n: number): void => {
        for (let i = 0; i < n; i++) {
          const event = next();
          meter.record(event);
          reference.add(event);
        }
      };
      record(2_000);
      await meter.flush();
      await waitFor(() => path.table.counts(), (c) => c.finalRows >= 2_000, { what: 'first 2,000 rows' });

      // A real ClickHouse failure: the table disappears under the sink (UNKNOWN_TABLE on insert).
      const table = `\`${path.database}\`.usage_events`;
      await path.handle.client.command({ query: `DETACH TABLE ${table}` });
      record(3_000);
      await meter.flush();
      await waitFor(() => sink.stats(), (s) => s.writeRetries >= 5, { what: 'the sink retrying for a while' });
      expect(sink.stats().paused).toBe(true);
      await path.handle.client.command({ query: `ATTACH TABLE ${table}` });

      await waitFor(() => path.table.counts(), (c) => c.finalRows >= 5_000, { what: 'all 5,000 rows after recovery', timeoutMs: 90_000 });
      expect(sink.stats().paused).toBe(false);
      const totals = await path.table.tenantTotals();
      expect(totals.map(({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }))).toEqual(reference.expectedTotals());
      expect((await path.table.counts()).finalRows).toBe(5_000);
    } finally {
      await path.close();
    }
  });
});
