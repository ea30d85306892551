import { z } from 'zod';

/** A count or an amount the domain holds as bigint: a decimal string on the wire, never a float. */
export const decimalDigits = z.string().regex(/^\d+$/);
/** The same, for amounts that may be negative (a margin). */
export const signedDigits = z.string().regex(/^-?\d+$/);
/** Milliseconds as an exact decimal with up to three places (microseconds): `1834.271`. */
export const millisDecimal = z.string().regex(/^\d+(\.\d{1,3})?$/);

/** How complete the rollups were when an answer was read (apps/api/src/completeness.ts). */
export const completenessSchema = z.object({
  as_of: z.string(), pending_events: z.number().int(), pending_rollups: z.number().int(),
  complete: z.boolean().describe('every event accepted before as_of is in the answer'),
}).nullable().describe('the rollup pipeline when the answer was read; null when it could not be measured');
