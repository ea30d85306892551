import { Partitioners } from 'kafkajs';
import { expect, inject, it } from 'vitest';
import { usageEventCodec } from '@meterline/contract';
import { dlqHeaders, ensureTopics, headerText } from '@meterline/kafka';
import { usageGenerator, waitFor } from '@meterline/testing';
import { testLog } from './support/raw-path';
import { readTopic } from './support/read-topic';
import { streamRig } from './support/stream';

const brokers = inject('kafkaBrokers');

it('the rollup consumer dead-letters what it cannot count, with the reason, counts it and counts every good event', async () => {
  const rig = await streamRig(brokers, 2);
  try {
    const dlq = `${rig.topics.usageEvents}.dlq`;
    await ensureTopics(rig.kafka, [{ topic: dlq, numPartitions: 1 }], testLog);
    rig.consumerConfig.deadLetterTopic = dlq;
    const consumer = await rig.startConsumer();

    const codec = usageEventCodec();
    const next = usageGenerator({ seed: 64, idPrefix: 'rollup-dlq' });
    const now = Date.now();
    const poison = [
      { reason: 'not_single_object_encoding', value: Buffer.from('{"tenant_id":"acme","input_tokens":5}') },
      { reason: 'unknown_schema_fingerprint', value: Buffer.from('c3010102030405060708aa', 'hex') },
      { reason: 'malformed_body', value: Buffer.concat([codec.writer.header, Buffer.from([0x08, 0x61])]) },
      { reason: 'invalid_event', value: codec.encode({ ...next(), input_tokens: -5 }) },
    ];
    const good = Array.from({ length: 200 }, () => next());
    const messages = [
      ...good.map((event) => ({ key: event.tenant_id, value: codec.encode(event), timestamp: String(now) })),
      ...poison.map((p, i) => ({ key: 'acme', value: p.value, timestamp: String(now), headers: { 'poison-id': `p${i}` } })),
    ];
    const producer = rig.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: rig.topics.usageEvents, messages });
    await producer.disconnect();

    await waitFor(() => rig.groupLag(rig.groupId, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the rollup consumer to commit everything', timeoutMs: 120_000, intervalMs: 200 });
    expect(consumer.stats()).toMatchObject({ applied: 200, invalid: 4, deadLettered: 4 });
    const letters = await readTopic(rig.kafka, dlq);
    expect(letters.map((m) => [headerText(m, 'poison-id'), headerText(m, dlqHeaders.reason), headerText(m, dlqHeaders.app)]).sort()).toEqual(
      poison.map((p, i) => [`p${i}`, p.reason, 'rollup-consumer']).sort(),
    );
    const invalid = letters.find((m) => headerText(m, dlqHeaders.reason) === 'invalid_event');
    expect(headerText(invalid!, dlqHeaders.detail)).toContain('input_tokens must be a non-negative integer');
  } finally {
    await rig.close();
  }
});
