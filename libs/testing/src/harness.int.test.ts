import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { isPidAlive, repoRoot, startKafka, startRedis, waitForPidGone } from '@meterline/local';
import { uniqueName } from './names';

function kafkaClient(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'harness-test', brokers, logLevel: logLevel.NOTHING });
}

async function createTopic(brokers: string[], topic: string): Promise<void> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    expect(created).toBe(true);
  } finally {
    await admin.disconnect();
  }
}

async function listTopics(brokers: string[]): Promise<string[]> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

async function produce(brokers: string[], topic: string, values: string[]): Promise<void> {
  const producer = kafkaClient(brokers).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ key: 'k', value })) });
  } finally {
    await producer.disconnect();
  }
}

/** Reads the first `count` values of the topic with a fresh consumer group. */
async function consumeFromBeginning(brokers: string[], topic: string, count: number, timeoutMs = 30_000): Promise<string[]> {
  const consumer = kafkaClient(brokers).consumer({ groupId: uniqueName('harness-group') });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolveAll, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${values.length}/${count} messages of ${topic} in ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          eachMessage: ({ message }) => {
            values.push(message.value?.toString('utf8') ?? '<null>');
            if (values.length >= count) {
              clearTimeout(timer);
              resolveAll();
            }
            return Promise.resolve();
          },
        })
        .catch((error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        });
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

function expectPidGone(pid: number): void {
  expect(isPidAlive(pid)).toBe(false);
  expect(() => process.kill(pid, 0)).toThrow();
}

describe('shared integration infrastructure (globalSetup)', () => {
  it('the provided broker creates a topic and round-trips a message', async () => {
    const brokers = inject('kafkaBrokers');
    expect(brokers.length).toBeGreaterThan(0);
    const topic = uniqueName('harness-global');
    await createTopic(brokers, topic);
    const value = JSON.stringify({ eventId: uniqueName('evt'), tokens: 42 });
    await produce(brokers, topic, [value]);
    expect(await consumeFromBeginning(brokers, topic, 1)).toEqual([value]);
  });

  it('the provided Redis answers', async () => {
    const url = inject('redisUrl');
    expect(url).toMatch(/^redis:\/\//);
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    try {
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });
});

describe('startKafka', () => {
  it('keeps topics and messages across stop()/restart() and kill()/restart() on the same ports', async () => {
    const root = await mkdtemp(join(tmpdir(), 'meterline-harness-test-'));
    const dataDir = join(root, 'data');
    const t0 = Date.now();
    const broker = await startKafka({ dataDir, heapMb: 512 });
    console.log(`[harness test] dedicated broker ready in ${Date.now() - t0} ms on ${broker.brokers.join(',')}`);
    try {
      const { port, controllerPort } = broker;
      expect(broker.brokers).toEqual([`127.0.0.1:${port}`]);
      expect(broker.dataDir).toBe(dataDir);
      expect(broker.logDir).toBe(`${dataDir}-logs`);
      expect(broker.serverLog).toBe(join(`${dataDir}-logs`, 'server.log'));
      expect(existsSync(join(dataDir, 'meta.properties'))).toBe(true);
      expect(existsSync(broker.serverLog)).toBe(true);

      const topic = uniqueName('harness-restart');
      await createTopic(broker.brokers, topic);
      await produce(broker.brokers, topic, ['before-restart']);
      expect(await consumeFromBeginning(broker.brokers, topic, 1)).toEqual(['before-restart']);

      const firstPid = broker.pid;
      await broker.stop();
      expect(broker.running).toBe(false);
      expectPidGone(firstPid);
      expect(existsSync(join(dataDir, 'meta.properties'))).toBe(true); // caller's dir is kept

      const t1 = Date.now();
      await broker.restart();
      console.log(`[harness test] restart after stop() ready in ${Date.now() - t1} ms`);
      expect(broker.running).toBe(true);
      expect(broker.pid).not.toBe(firstPid);
      expect(broker.port).toBe(port);
      expect(broker.controllerPort).toBe(controllerPort);
      expect(broker.brokers).toEqual([`127.0.0.1:${port}`]);
      expect(await listTopics(broker.brokers)).toContain(topic);
      expect(await consumeFromBeginning(broker.brokers, topic, 1)).toEqual(['before-restart']);

      // A crash: SIGKILL, no controlled shutdown. Acknowledged (acks=-1) data survives.
      await produce(broker.brokers, topic, ['before-kill']);
      const secondPid = broker.pid;
      await broker.kill();
      expectPidGone(secondPid);
      const t2 = Date.now();
      await broker.restart();
      console.log(`[harness test] restart after kill() ready in ${Date.now() - t2} ms`);
      expect(await consumeFromBeginning(broker.brokers, topic, 2)).toEqual(['before-restart', 'before-kill']);

      const lastPid = broker.pid;
      await broker.stop();
      expectPidGone(lastPid);
    } finally {
      await broker.stop();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('deletes its own temp data dir on stop() and then refuses to restart', async () => {
    const broker = await startKafka({ heapMb: 512 });
    const { dataDir, pid } = broker;
    try {
      expect(dataDir.startsWith(tmpdir())).toBe(true);
      expect(dataDir).toMatch(/meterline-kafka-/);
      expect(existsSync(dataDir)).toBe(true);
      expect(existsSync(broker.serverLog)).toBe(true);
      expect(await listTopics(broker.brokers)).toEqual([]);
    } finally {
      await broker.stop();
    }
    expectPidGone(pid);
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(broker.logDir)).toBe(false);
    await expect(broker.restart()).rejects.toThrow(/deleted the temporary data dir/);
  });

  it('fails fast, with the server log, when the broker cannot bind its port', async () => {
    // Accepts and drops connections, so the readiness probe cannot keep one open.
    const blocker: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolveListen) => blocker.listen(0, '127.0.0.1', resolveListen));
    const address = blocker.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const t0 = Date.now();
    try {
      await expect(startKafka({ port: address.port, heapMb: 256 })).rejects.toThrow(/exited .*before it was ready[\s\S]*server\.log/);
      expect(Date.now() - t0).toBeLessThan(60_000);
    } finally {
      await new Promise<void>((resolveClose) => blocker.close(() => resolveClose()));
    }
  });
});

describe('startRedis', () => {
  it('serves, restarts on the same port, stops', async () => {
    const redis = await startRedis();
    const { port, dir } = redis;
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${port}`);
      const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      try {
        await client.set('harness:key', 'value-1');
        expect(await client.get('harness:key')).toBe('value-1');
      } finally {
        client.disconnect();
      }

      const firstPid = redis.pid;
      await redis.restart();
      expectPidGone(firstPid);
      expect(redis.pid).not.toBe(firstPid);
      expect(redis.port).toBe(port);
      const after = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await after.connect();
      try {
        expect(await after.ping()).toBe('PONG');
        expect(await after.get('harness:key')).toBeNull(); // nothing is persisted
        await after.set('harness:key', 'value-2');
        expect(await after.get('harness:key')).toBe('value-2');
      } finally {
        after.disconnect();
      }

      const secondPid = redis.pid;
      await redis.kill();
      expectPidGone(secondPid);
      await redis.restart();
      expect(redis.running).toBe(true);
    } finally {
      const lastPid = redis.pid;
      await redis.stop();
      expectPidGone(lastPid);
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('does not outlive a parent that is SIGKILLed (watchdog)', async () => {
    const fixture = join(repoRoot(), 'libs', 'testing', 'src', 'fixtures', 'orphan-parent.ts');
    const parent = spawn(process.execPath, ['--import', 'tsx', fixture], { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    parent.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    parent.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const ready = await new Promise<{ pid: number; dir: string }>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`fixture not ready: ${stdout}${stderr}`)), 30_000);
      const check = (): void => {
        const match = /READY (\d+) (\S+)\n/.exec(stdout);
        if (match?.[1] !== undefined && match[2] !== undefined) {
          clearTimeout(timer);
          resolveReady({ pid: Number(match[1]), dir: match[2] });
        }
      };
      parent.stdout.on('data', check);
      parent.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`fixture exited with ${code}: ${stdout}${stderr}`));
      });
    });
    try {
      expect(isPidAlive(ready.pid)).toBe(true);
      const exited = new Promise((resolveExit) => parent.once('exit', resolveExit));
      parent.kill('SIGKILL');
      await exited;
      // The watchdog polls once a second.
      expect(await waitForPidGone(ready.pid, 5_000)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
      // Nobody was left to delete the killed parent's temp dir.
      await rm(ready.dir, { recursive: true, force: true });
    }
  });
});
