import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Partitioners } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import type { UsageEvent } from '@meterline/domain';
import { AvroCodec, SINGLE_OBJECT_HEADER_BYTES, crc64Avro, schemaRegistry, usageEventCodec, type RegisteredSchema } from '@meterline/contract';
import { dlqHeaders, headerText } from '@meterline/kafka';
import { UsageReference, usageGenerator, waitFor } from '@meterline/testing';
import { PRIMITIVE_OBJECT_RULES } from '../libs/contract/src/testdata/canonical-form-rules';
import { rawPath } from './support/raw-path';

// Debian's interpreter, where `apt-get install python3-avro` (.ci/run) puts the library; a
// `python3` earlier on PATH (pyenv, a venv) may not have it.
const DEBIAN_PYTHON = '/usr/bin/python3';
const WRITER = fileURLToPath(new URL('./support/python-avro-writer.py', import.meta.url));
const PYTHON_VARIANT = 'python-avro-1.11';

interface PythonAnswer {
  version: string;
  module: string;
  schemas: Record<string, { canonical: string; fingerprint: string }>;
  encoded: string[][];
}

interface PythonRequest {
  schemas: { id: string; text: string }[];
  encode?: { schema: string; datums: unknown[] }[];
}

/** Runs the real python-avro; fails (never skips) when it is not installed. */
function pythonAvro(request: PythonRequest): PythonAnswer {
  try {
    return JSON.parse(execFileSync(DEBIAN_PYTHON, [WRITER], { input: JSON.stringify(request), maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' })) as PythonAnswer;
  } catch (error) {
    throw new Error(`python-avro failed (.ci/run installs it: apt-get install python3-avro): ${error instanceof Error ? error.message : String(error)}`);
  }
}

const registry = schemaRegistry();
const schemas = registry.all();
const idOf = (s: RegisteredSchema): string => `${s.record}/v${s.version}`;
const pythonVariantOf = (s: RegisteredSchema) => s.variants.find((v) => v.name.split('|').includes(PYTHON_VARIANT));
const usageEventVersions = schemas.filter((s) => s.record === 'usage-event');

/** Events that set every field of the newest usage-event (strings with multi-byte text, big longs, maps). */
function sampleEvents(count: number, seed: number, idPrefix: string): UsageEvent[] {
  const next = usageGenerator({ seed, idPrefix });
  return Array.from({ length: count }, (_, i) => {
    const event = next();
    if (i % 2 === 0) return event;
    return { ...event, api_key_hash: 'ab'.repeat(32), client_id: 'client-é', trace_id: `trace-${i}-😀`, endpoint_id: 'ep-漢字', input_tokens: 2 ** 40 + i, metadata: { 'clé': 'välue', route: `/v1/${i}` } };
  });
}

/** What a writer of `version` holds of `event`: our codec's round trip through that version. */
function asWrittenBy(version: RegisteredSchema, event: UsageEvent): { datum: UsageEvent; bytes: Buffer } {
  const codec = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: version.version, readerVersion: version.version });
  const bytes = Buffer.from(codec.encode(event));
  return { datum: codec.decode(bytes), bytes };
}

describe('interop with the real python-avro (Debian python3-avro)', () => {
  it('fingerprints every schema under schemas/ as the registered python-avro-1.11 variant', () => {
    const answer = pythonAvro({ schemas: schemas.map((s) => ({ id: idOf(s), text: readFileSync(s.file, 'utf8') })) });
    expect(answer.version).toMatch(/^1\.1[12]\./);
    expect(answer.module.startsWith('/usr/lib/python3/dist-packages/')).toBe(true);
    for (const schema of schemas) {
      const python = answer.schemas[idOf(schema)]!;
      const variant = pythonVariantOf(schema);
      expect(python.canonical, idOf(schema)).toBe(variant?.form);
      expect(python.fingerprint, idOf(schema)).toBe(variant?.fingerprintHex);
      expect(python.fingerprint).not.toBe(schema.fingerprintHex);
      expect(BigInt.asUintN(64, crc64Avro(Buffer.from(python.canonical, 'utf8')))).toBe(variant?.fingerprint);
    }
  });

  it('writes each primitive-object rule as the python column of the rule table says', () => {
    const wrapped = PRIMITIVE_OBJECT_RULES.map((rule, i) => ({ id: `rule-${i}`, text: JSON.stringify({ type: 'record', name: 'R', namespace: 'x', fields: [{ name: 'f', type: rule.schema }] }) }));
    const answer = pythonAvro({ schemas: wrapped });
    PRIMITIVE_OBJECT_RULES.forEach((rule, i) => {
      expect(answer.schemas[`rule-${i}`]!.canonical, rule.what).toBe(`{"name":"x.R","type":"record","fields":[{"name":"f","type":${rule.forms[PYTHON_VARIANT]}}]}`);
    });
  });

  it('reads every field of 400 events python-avro encodes with each usage-event version, body byte for byte ours', () => {
    const events = sampleEvents(400, 5, 'py-codec');
    const written = usageEventVersions.map((version) => events.map((event) => asWrittenBy(version, event)));
    const answer = pythonAvro({
      schemas: usageEventVersions.map((s) => ({ id: idOf(s), text: readFileSync(s.file, 'utf8') })),
      encode: usageEventVersions.map((s, v) => ({ schema: idOf(s), datums: written[v]!.map((w) => w.datum) })),
    });
    const latest = usageEventCodec(registry);
    usageEventVersions.forEach((version, v) => {
      const variant = pythonVariantOf(version)!;
      answer.encoded[v]!.forEach((hex, i) => {
        const python = Buffer.from(hex, 'hex');
        const ours = written[v]![i]!.bytes;
        expect(python.subarray(0, 2).toString('hex')).toBe('c301');
        expect(python.subarray(2, SINGLE_OBJECT_HEADER_BYTES).toString('hex')).toBe(variant.fingerprintHex);
        expect(python.subarray(SINGLE_OBJECT_HEADER_BYTES).equals(ours.subarray(SINGLE_OBJECT_HEADER_BYTES))).toBe(true);
        const decoded = latest.decodeMessage(python);
        expect(decoded.fingerprintForm).toBe(variant.name);
        expect(decoded.writer.version).toBe(version.version);
        // The reference: the same event through our own writer of that version (canonical header).
        expect(decoded.value).toEqual(latest.decode(ours));
        if (version === latest.reader) expect(decoded.value).toEqual(events[i]);
      });
    });
    expect(latest.variantReads().get(pythonVariantOf(latest.reader)!.name)).toBe(400 * usageEventVersions.length);
  });
});

describe('python-avro events through Kafka, the sink and ClickHouse', () => {
  const brokers = inject('kafkaBrokers');

  it('lands every python-avro event; an unknown fingerprint goes to the DLQ naming it', async () => {
    const path = await rawPath(brokers, { partitions: 3 });
    try {
      const sink = await path.startSink({ flushMs: 200 });
      const events = sampleEvents(1_000, 9, 'py-sink');
      const reference = new UsageReference();
      for (const event of events) reference.add(event);
      // Each event written once, by one of the usage-event versions in turn.
      const jobs = usageEventVersions.map((version, v) => ({ version, picked: events.filter((_, i) => i % usageEventVersions.length === v) }));
      const answer = pythonAvro({
        schemas: usageEventVersions.map((s) => ({ id: idOf(s), text: readFileSync(s.file, 'utf8') })),
        encode: jobs.map((job) => ({ schema: idOf(job.version), datums: job.picked.map((event) => asWrittenBy(job.version, event).datum) })),
      });
      // A producer whose library hashes the schema file as written (no dialect does): unknown.
      const unknownHex = Buffer.alloc(8);
      unknownHex.writeBigUInt64LE(crc64Avro(readFileSync(usageEventVersions[0]!.file)));
      const python = answer.encoded.flat().map((hex) => Buffer.from(hex, 'hex'));
      const unknown = python.slice(0, 25).map((bytes) => Buffer.concat([bytes.subarray(0, 2), unknownHex, bytes.subarray(SINGLE_OBJECT_HEADER_BYTES)]));
      const now = String(Date.now());
      const producer = path.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      const messages = [...python, ...unknown].map((value, i) => ({ key: `k-${i % 7}`, value, timestamp: now }));
      for (let i = 0; i < messages.length; i += 250) await producer.send({ topic: path.topic, messages: messages.slice(i, i + 250) });
      await producer.disconnect();

      await waitFor(() => path.table.counts(), (c) => c.finalRows >= events.length, { what: `${events.length} python-avro rows` });
      const dlq = await path.readDlq(unknown.length);
      expect(dlq).toHaveLength(unknown.length);
      for (const message of dlq) {
        expect(headerText(message, dlqHeaders.reason)).toBe('unknown_schema_fingerprint');
        expect(headerText(message, dlqHeaders.detail)).toContain(`unknown writer schema fingerprint ${unknownHex.toString('hex')}`);
      }
      const counts = await path.table.counts();
      expect(counts.finalRows).toBe(events.length);
      expect(counts.distinctEvents).toBe(events.length);
      const totals = await path.table.tenantTotals();
      expect(totals.map(({ tenant_id, events: n, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id, events: n, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }))).toEqual(reference.expectedTotals());
      expect(sink.stats().deadLettered).toBe(unknown.length);
    } finally {
      await path.close();
    }
  });
});
