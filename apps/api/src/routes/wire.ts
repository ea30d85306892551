import { z } from 'zod';

/** A count or an amount the domain holds as bigint: a decimal string on the wire, never a float. */
export const decimalDigits = z.string().regex(/^\d+$/);
/** The same, for amounts that may be negative (a margin). */
export const signedDigits = z.string().regex(/^-?\d+$/);
