import type { TestProject } from 'vitest/node';
import { startKafka, type KafkaBroker } from '@meterline/local';
import { startRedis, type RedisServer } from '@meterline/local';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap list of the shared integration broker, e.g. `['127.0.0.1:40123']`. */
    kafkaBrokers: string[];
    /** URL of the shared integration Redis, e.g. `redis://127.0.0.1:40125`. */
    redisUrl: string;
  }
}

/**
 * Vitest globalSetup of the `integration` project: one Kafka broker and one Redis for the
 * whole run, handed to tests with `inject('kafkaBrokers')` and `inject('redisUrl')`.
 * METERLINE_TEST_KAFKA_BROKERS (comma-separated) and METERLINE_TEST_REDIS_URL point the
 * tests at running servers instead; nothing is started for the ones that are set.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const envBrokers = process.env['METERLINE_TEST_KAFKA_BROKERS']?.trim();
  const envRedis = process.env['METERLINE_TEST_REDIS_URL']?.trim();

  const [kafkaResult, redisResult] = await Promise.allSettled([
    envBrokers ? Promise.resolve(undefined) : startKafka(),
    envRedis ? Promise.resolve(undefined) : startRedis(),
  ]);
  const broker: KafkaBroker | undefined = kafkaResult.status === 'fulfilled' ? kafkaResult.value : undefined;
  const redis: RedisServer | undefined = redisResult.status === 'fulfilled' ? redisResult.value : undefined;
  const teardown = async (): Promise<void> => {
    await Promise.all([broker?.stop(), redis?.stop()]);
  };
  if (kafkaResult.status === 'rejected' || redisResult.status === 'rejected') {
    await teardown();
    const reasons = [kafkaResult, redisResult].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    throw reasons.length === 1 ? reasons[0] : new AggregateError(reasons, 'integration globalSetup: Kafka and Redis failed to start');
  }

  const kafkaBrokers = envBrokers
    ? envBrokers.split(',').map((b) => b.trim()).filter((b) => b !== '')
    : (broker?.brokers ?? []);
  const redisUrl = envRedis ? envRedis : (redis?.url ?? '');
  project.provide('kafkaBrokers', kafkaBrokers);
  project.provide('redisUrl', redisUrl);

  const kafkaText = broker ? `${kafkaBrokers.join(',')} (pid ${broker.pid}, log ${broker.serverLog})` : `${kafkaBrokers.join(',')} (from METERLINE_TEST_KAFKA_BROKERS)`;
  const redisText = redis ? `${redisUrl} (pid ${redis.pid})` : `${redisUrl} (from METERLINE_TEST_REDIS_URL)`;
  console.log(`[meterline] integration infra ready in ${((Date.now() - started) / 1000).toFixed(1)} s: kafka ${kafkaText}, redis ${redisText}`);

  return teardown;
}
