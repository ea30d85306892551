import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvalidEventError } from '@meterline/contract';
import type { Meter, UsageRecord } from '@meterline/producer';
import { errorMessage } from '@meterline/platform';
import { tenantOf } from '../auth';
import { HttpProblem, problemSchema } from '../problem';

export const MAX_EVENTS_PER_REQUEST = 10_000;

const record = z.looseObject({ tenant_id: z.string() }).describe('A usage event, the fields of record() (libs/producer): the shim validates each one');
const rejection = z.object({ index: z.number(), code: z.string(), error: z.string(), violations: z.array(z.unknown()).optional() });
const answer = z.object({ accepted: z.array(z.string()).describe('event ids'), rejected: z.array(rejection) });

/**
 * JSON ingest through the producer shim: 202 all accepted, 207 some, 400 none. The answer
 * comes once every accepted event is in Kafka or in the spool on disk (a crash of this process
 * after it loses none); 503 when the meter could not put them there (it keeps retrying them,
 * and the caller sends them again with the same ids: the stream counts an id once). A tenant-bound
 * key writes its own tenant only; `api_key_hash` is the server's to compute (send `api_key`),
 * so a caller cannot book usage on another key's hash.
 */
export const eventRoutes = (meter: Meter, clock: () => number): FastifyPluginCallbackZod => (app, _options, done) => {
  app.post('/v1/events', {
    config: { scope: 'events:write' },
    bodyLimit: 5 * 1024 * 1024,
    schema: {
      tags: ['events'],
      summary: 'Record usage events (one object or an array)',
      body: z.union([record, z.array(record).max(MAX_EVENTS_PER_REQUEST)]),
      response: {
        202: answer,
        207: answer,
        400: z.union([answer, problemSchema]).describe('every event rejected (each with its reason), or a request that is not an event list'),
        503: problemSchema.describe('EVENTS_NOT_DURABLE: the events reached neither Kafka nor the spool yet; send them again (same event ids)'),
      },
    },
  }, async (request, reply) => {
    const records = Array.isArray(request.body) ? request.body : [request.body];
    const accepted: string[] = [];
    const rejected: z.infer<typeof rejection>[] = [];
    const now = clock();
    records.forEach((event, index) => {
      try {
        if ('api_key_hash' in event) {
          rejected.push({ index, code: 'API_KEY_HASH_NOT_ALLOWED', error: 'api_key_hash is computed by the server: send the raw api_key (it is hashed, never stored)' });
          return;
        }
        tenantOf(request, event.tenant_id, now);
        accepted.push(meter.record(event as unknown as UsageRecord));
      } catch (error) {
        const code = error instanceof InvalidEventError ? 'EVENT_INVALID' : typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'EVENT_REFUSED';
        rejected.push({ index, code, error: errorMessage(error), ...(error instanceof InvalidEventError ? { violations: [...error.violations] } : {}) });
      }
    });
    if (accepted.length > 0) {
      try {
        await meter.flush();
      } catch (error) {
        throw new HttpProblem(503, 'EVENTS_NOT_DURABLE', `the events reached neither Kafka nor the spool yet (the server retries them); send them again with the same event ids: ${errorMessage(error)}`);
      }
    }
    return reply.code(rejected.length === 0 ? 202 : accepted.length === 0 ? 400 : 207).send({ accepted, rejected });
  });
  done();
};
