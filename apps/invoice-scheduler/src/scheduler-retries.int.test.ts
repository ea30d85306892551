import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeInvoice, parseExactDecimal } from '@meterline/domain';
import type { InvoiceRevisionOutcome } from '@meterline/invoice-queue';
import { InfrastructureError, MeterlineError, silentLogger } from '@meterline/platform';
import { startRedis, uniqueName, waitFor, type RedisServer } from '@meterline/testing';
import { InvoiceScheduler, unrecoverableUnlessRetriable, type InvoiceJobRunner } from './scheduler';

// The worker's retry decision against a real BullMQ queue on a real redis-server: the fleet's
// non-retriable errors (the domain's among them) fail a job on its first attempt, retriable ones
// and errors outside the family use the job's attempts.
let server: RedisServer;
let connection: Redis;
beforeAll(async () => {
  server = await startRedis();
  connection = new Redis(server.url, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await connection.quit();
  await server.stop();
});

const ATTEMPTS = 3;

/** A scheduler whose revision job runs `revise`; counts the calls. */
function schedulerWith(revise: (call: number) => Promise<InvoiceRevisionOutcome>): { scheduler: InvoiceScheduler; calls: () => number } {
  let calls = 0;
  const unused = (): never => {
    throw new Error('not used by this test');
  };
  const jobs: InvoiceJobRunner = { closePeriod: unused, invoiceTenant: unused, reviseInvoice: () => revise(++calls) };
  const scheduler = new InvoiceScheduler(connection, jobs, { queue: uniqueName('invoices'), cron: '0 2 1 * *', timeZone: 'UTC', concurrency: 1, attempts: ATTEMPTS, stalledIntervalMs: 30_000, clock: Date.now }, silentLogger());
  return { scheduler, calls: () => calls };
}

async function settled(scheduler: InvoiceScheduler, job: Job): Promise<{ state: string; attemptsMade: number; failedReason: string }> {
  return waitFor(
    async () => {
      // The state first, then the job: read the other way round, the job may predate its move.
      const state = await scheduler.queue.getJobState(job.id as string);
      const current = await Job.fromId(scheduler.queue, job.id as string);
      return { state, attemptsMade: current?.attemptsMade ?? -1, failedReason: current?.failedReason ?? '' };
    },
    (s) => s.state === 'completed' || s.state === 'failed',
    { what: `job ${job.id} to finish`, timeoutMs: 60_000, intervalMs: 100 },
  );
}

describe('invoice scheduler retries', () => {
  it('a domain error that can never pass (a stored invoice that is not JSON) fails the job on its first attempt', async () => {
    const { scheduler, calls } = schedulerWith(() => {
      decodeInvoice('{not json', 'invoices/acme/2026-01.json'); // throws InvoiceInputError
      return Promise.reject(new Error('decodeInvoice accepted "{not json"'));
    });
    try {
      scheduler.startWorker();
      const result = await settled(scheduler, await scheduler.invoices.revise('acme', '2026-01'));
      expect(result).toMatchObject({ state: 'failed', attemptsMade: 1 });
      expect(result.failedReason).toMatch(/invalid invoice input: invoices\/acme\/2026-01.json: is not JSON/);
      expect(calls()).toBe(1);
    } finally {
      await scheduler.close();
    }
  });

  it('a retriable error uses the attempts: the job passes on its third', async () => {
    const { scheduler, calls } = schedulerWith((call) => {
      if (call < 3) return Promise.reject(new InfrastructureError('CLICKHOUSE_READ_FAILED', `ClickHouse unavailable (call ${call})`));
      return Promise.resolve({ invoice_id: 'inv-acme-2026-01', revision: 1, supersedes_invoice_id: null, tenant_id: 'acme', period: '2026-01', total_minor: '0', currency: 'USD', outcome: 'unchanged' });
    });
    try {
      scheduler.startWorker();
      const result = await settled(scheduler, await scheduler.invoices.revise('acme', '2026-01'));
      expect(result).toMatchObject({ state: 'completed', attemptsMade: 3 });
      expect(calls()).toBe(3);
    } finally {
      await scheduler.close();
    }
  });

  it('an error outside the family (a dropped connection) is retried until the attempts run out', async () => {
    const { scheduler, calls } = schedulerWith(() => Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })));
    try {
      scheduler.startWorker();
      const result = await settled(scheduler, await scheduler.invoices.revise('acme', '2026-01'));
      expect(result).toMatchObject({ state: 'failed', attemptsMade: ATTEMPTS });
      expect(calls()).toBe(ATTEMPTS);
    } finally {
      await scheduler.close();
    }
  });
});

describe('unrecoverableUnlessRetriable', () => {
  const decimalError = (): unknown => {
    try {
      parseExactDecimal('12,5');
    } catch (error) {
      return error;
    }
    throw new Error('parseExactDecimal accepted 12,5');
  };
  it.each([
    { name: 'a domain DecimalError', error: decimalError(), unrecoverable: true },
    { name: 'a non-retriable MeterlineError', error: new MeterlineError('X', 'never passes'), unrecoverable: true },
    { name: 'a retriable InfrastructureError', error: new InfrastructureError('X', 'may pass'), unrecoverable: false },
    { name: 'a plain Error', error: new Error('unknown'), unrecoverable: false },
    { name: 'a KafkaJS-style error with retriable: false (retries exhausted on a broker outage)', error: Object.assign(new Error('KafkaJSNumberOfRetriesExceeded'), { retriable: false }), unrecoverable: false },
  ])('$name', ({ error, unrecoverable }) => {
    const thrown = unrecoverableUnlessRetriable(error);
    expect((thrown as Error).name === 'UnrecoverableError').toBe(unrecoverable);
    if (unrecoverable) expect((thrown as Error).cause).toBe(error);
    else expect(thrown).toBe(error);
  });
});
