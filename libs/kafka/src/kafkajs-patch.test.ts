import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch (applied by patch-package on npm ci): KafkaJS groups a send's
// messages by partition in one pass instead of copying each partition's list per message.

const require = createRequire(import.meta.url);
const modulePath = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');

interface GroupArgs {
  topic: string;
  partitionMetadata: { partitionId: number }[];
  messages: { key: string; value: string }[];
  partitioner: (args: { message: { key: string } }) => number;
}
const groupMessagesPerPartition = require(modulePath) as (args: GroupArgs) => Record<string, { key: string; value: string }[]>;

describe('KafkaJS as installed', () => {
  it('carries the grouping patch (npm ci ran patch-package)', () => {
    expect(readFileSync(modulePath, 'utf8')).toContain('meterline patch');
  });

  it('groups messages by partition, keeping their order, the way KafkaJS did before the patch', () => {
    const partitionMetadata = Array.from({ length: 12 }, (_, partitionId) => ({ partitionId }));
    const messages = Array.from({ length: 5_000 }, (_, i) => ({ key: `tenant-${i % 37}`, value: String(i) }));
    const partitioner = ({ message }: { message: { key: string } }): number => Number(message.key.slice(7)) % 12;
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });

    // What KafkaJS 2.2.4 returned: per partition, its messages in send order.
    const expected: Record<string, { key: string; value: string }[]> = {};
    for (const message of messages) (expected[partitioner({ message })] ??= []).push(message);
    expect(grouped).toEqual(expected);
    expect(Object.keys(grouped).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner })).toEqual({});
  });
});
