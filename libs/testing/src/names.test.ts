import { describe, expect, it } from 'vitest';
import { uniqueIdentifier, uniqueName } from './names';
import { freePort, freePorts, newKafkaClusterId } from '@meterline/local';

describe('uniqueName', () => {
  it('is prefixed, Kafka-topic safe and different every call', () => {
    const names = new Set(Array.from({ length: 200 }, () => uniqueName('usage-events')));
    expect(names.size).toBe(200);
    for (const name of names) {
      expect(name).toMatch(/^usage-events-[a-z0-9]+-[a-z0-9]{6}$/);
      expect(name.length).toBeLessThan(249);
    }
  });

  it('sanitises the prefix', () => {
    expect(uniqueName('My Topic.v1')).toMatch(/^my-topic-v1-[a-z0-9_-]+$/);
  });
});

describe('uniqueIdentifier', () => {
  it('only uses [a-z0-9_] and never starts with a digit', () => {
    expect(uniqueIdentifier('meterline-test')).toMatch(/^meterline_test_[a-z0-9]+_[a-z0-9]{6}$/);
    expect(uniqueIdentifier('1db')).toMatch(/^t_1db_[a-z0-9_]+$/);
    expect(uniqueIdentifier('')).toMatch(/^t__[a-z0-9_]+$/);
    expect(uniqueIdentifier('x')).not.toBe(uniqueIdentifier('x'));
  });
});

describe('freePort', () => {
  it('returns bindable, distinct ports', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65_536);
    const ports = await freePorts(3);
    expect(new Set(ports).size).toBe(3);
  });
});

describe('newKafkaClusterId', () => {
  it('never starts with "-" (StorageTool would read it as an option) and is 22 base64url characters', () => {
    for (let i = 0; i < 5_000; i++) {
      const id = newKafkaClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    }
  });
});
