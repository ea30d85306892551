import fc from 'fast-check';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { alertsStream, usageEventsStream, usageRollupsStream, type SinkStream } from '@meterline/clickhouse-sink';
import type { AlertsTable, UsageEventsTable, UsageRollupsTable } from '@meterline/clickhouse';
import { AvroCodec, DecodeError, schemaRegistry, type DecodeFailure } from '@meterline/contract';
import { priceEvent } from '@meterline/domain';
import { loadPriceBooks } from '@meterline/pricing';
import { Outcomes, fuzz, fuzzTimeoutMs, withoutStall } from '../support/fuzz';
import { avroValue, mutate, mutation } from './avro-values';
import { plausibleUsageEvent } from './usage-events';

// The Avro decoder against hostile bytes: random ones, and valid encodings of every registered
// schema version corrupted (bits flipped, bytes inserted and deleted, truncated, huge varints
// written over lengths and block counts). Every message is read or refused with a DecodeError
// and a dead-letter reason; none throws anything else, none stalls. The sink's decode step (the
// DLQ path: decode, validate, price) turns any batch into rows and dead letters, never a throw.

const registry = schemaRegistry();
const schemas = registry.all();
const records = [...new Set(schemas.map((s) => s.record))];
const codecs = new Map(records.map((record) => [record, new AvroCodec<unknown>(registry, record)]));
const reasons: readonly DecodeFailure[] = ['not_single_object_encoding', 'unknown_schema_fingerprint', 'wrong_record', 'malformed_body'];
/** Every header a registered schema can arrive with (canonical and library variants), with its record. */
const headers = schemas.flatMap((s) => [s.header, ...s.variants.map((v) => Buffer.concat([s.header.subarray(0, 2), Buffer.from(v.fingerprintHex, 'hex')]))].map((header) => ({ record: s.record, header })));

/** `decoded`, or the DecodeError's reason; anything else thrown fails the case. */
function decodeOutcome(record: string, bytes: Buffer): string {
  const codec = codecs.get(record)!;
  try {
    withoutStall(`decoding ${bytes.length} bytes as ${record}`, () => codec.decodeMessage(bytes));
    return 'decoded';
  } catch (error) {
    if (error instanceof DecodeError && reasons.includes(error.reason) && error.message.length > 0 && !error.retriable) return error.reason;
    throw new Error(`decoding ${bytes.toString('hex')} as ${record} threw something other than a DecodeError with a reason: ${String(error)}`, { cause: error });
  }
}

const encoded = (label: string, value: unknown): Buffer => {
  const schema = byLabel.get(label)!;
  return Buffer.concat([schema.header, schema.type.toBuffer(value)]);
};
const byLabel = new Map(schemas.map((s) => [`${s.record} v${s.version}`, s]));
/** A schema version (by label, so a counterexample stays short) and a valid value of it. */
const validMessage = fc.constantFrom(...byLabel.keys()).chain((label) => fc.tuple(fc.constant(label), avroValue(byLabel.get(label)!.type)));

describe('fuzz: Avro decoder', () => {
  it('random bytes, bare or after a registered header: decoded or a dead-letter reason', { timeout: fuzzTimeoutMs }, async () => {
    const outcomes = new Outcomes();
    // Mostly a body after its own record's header (past the header checks, into the body reader).
    const message = fc.oneof(
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...records), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b))) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...records), fc.constantFrom(...headers), fc.uint8Array({ maxLength: 400 })).map(([record, h, b]) => [record, Buffer.concat([h.header, b])] as const) },
      { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...headers), fc.uint8Array({ maxLength: 400 })).map(([h, b]) => [h.record, Buffer.concat([h.header, b])] as const) },
    );
    const summary = await fuzz('avro-decoder/random-bytes', fc.property(message, ([record, bytes]) => {
      outcomes.add(decodeOutcome(record, bytes));
    }), 2_000, outcomes);
    expect(outcomes.total).toBeGreaterThanOrEqual(summary.cases);
    expect(outcomes.count('malformed_body')).toBeGreaterThan(0);
  });

  it('valid encodings of every schema version, mutated: decoded or a dead-letter reason; unmutated: decoded', { timeout: fuzzTimeoutMs }, async () => {
    const outcomes = new Outcomes();
    const property = fc.property(validMessage, fc.array(mutation, { maxLength: 4 }), fc.boolean(), ([label, value], mutations, keepHeader) => {
      const bytes = mutate(encoded(label, value), mutations, keepHeader ? 10 : 0);
      const outcome = decodeOutcome(byLabel.get(label)!.record, bytes);
      if (mutations.length === 0) expect(outcome).toBe('decoded');
      outcomes.add(mutations.length === 0 ? 'unmutated decoded' : outcome);
    });
    await fuzz('avro-decoder/mutated-encodings', property, 2_000, outcomes);
    expect(outcomes.count('unmutated decoded')).toBeGreaterThan(0);
    expect(outcomes.count('malformed_body')).toBeGreaterThan(0);
  });
});

describe('fuzz: the sink decode step (decode, validate, price: rows or dead letters)', () => {
  const books = loadPriceBooks('pricing');
  // The tables are only written by write(); decode() never touches them.
  const streams = new Map<string, SinkStream<unknown>>([
    ['usage-event', usageEventsStream({} as UsageEventsTable, {}, { price: (event) => priceEvent(books, event) })],
    ['usage-rollup', usageRollupsStream({} as UsageRollupsTable)],
    ['quota-alert', alertsStream({} as AlertsTable, { quotaAlerts: 'quota-alert', pricingAlerts: 'pricing-alert', invoiceAlerts: 'invoice-alert' })],
    ['pricing-alert', alertsStream({} as AlertsTable, { quotaAlerts: 'quota-alert', pricingAlerts: 'pricing-alert', invoiceAlerts: 'invoice-alert' })],
    ['invoice-alert', alertsStream({} as AlertsTable, { quotaAlerts: 'quota-alert', pricingAlerts: 'pricing-alert', invoiceAlerts: 'invoice-alert' })],
  ]);
  const topics = [...streams.keys()];
  // Kafka timestamps are whatever the producer set: the time bounds are checked against them.
  const now = Date.now();
  const timestamp = fc.oneof(fc.constant(String(now)), fc.constant(String(now)), fc.integer({ min: -1, max: 2 ** 31 }).map(String), fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n).map(String), fc.constantFrom('', 'abc', '8640000000000001'));

  it('every message of a batch becomes a row or a dead letter with a reason, never a throw', { timeout: fuzzTimeoutMs }, async () => {
    const outcomes = new Outcomes();
    // Mostly the topic's own record (so some decode and reach validation and pricing), some any other.
    const messageOn = (topic: string) => fc.record({
      valid: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...[...byLabel.keys()].filter((l) => l.startsWith(`${topic} `))) },
        { weight: 1, arbitrary: fc.constantFrom(...byLabel.keys()) },
      ).chain((label) => fc.tuple(fc.constant(label), label === 'usage-event v2' ? fc.oneof(avroValue(byLabel.get(label)!.type), plausibleUsageEvent(now)) : avroValue(byLabel.get(label)!.type))),
      mutations: fc.array(mutation, { maxLength: 3 }),
      // One in five: random bytes after the topic's header instead of an encoding.
      random: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) }),
      timestamp,
      tombstone: fc.integer({ min: 0, max: 19 }).map((n) => n === 0),
    });
    const batch = fc.constantFrom(...topics).chain((topic) => fc.tuple(fc.constant(topic), fc.array(messageOn(topic), { minLength: 1, maxLength: 8 })));
    const property = fc.property(batch, ([topic, drawn]) => {
      const messages: KafkaMessage[] = drawn.map((m, i) => ({
        key: null, offset: String(i), timestamp: m.timestamp, attributes: 0, headers: {},
        value: m.tombstone ? null : m.random !== null ? Buffer.concat([codecs.get(topic)!.reader.header, m.random]) : mutate(encoded(m.valid[0], m.valid[1]), m.mutations, 10),
      }));
      const stream = streams.get(topic)!;
      const { rows, deadLetters } = withoutStall(`the ${topic} decode step`, () => stream.decode(topic, 0, messages));
      expect(rows.length + deadLetters.length).toBe(messages.length);
      for (const letter of deadLetters) {
        expect(letter.reason).toMatch(/^[a-z_]+$/);
        expect(letter.detail.length).toBeGreaterThan(0);
        outcomes.add(`dead letter ${letter.reason}`);
      }
      for (let i = 0; i < rows.length; i++) outcomes.add('row');
    });
    await fuzz('sink-decode/batches', property, 400, outcomes);
    expect(outcomes.count('row')).toBeGreaterThan(0);
  });
});
