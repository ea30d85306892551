import { checkPeriod } from './invoice-id';
import { nextPeriod } from './period';

/**
 * Months close in order, one after another, from the first month ever closed. Each close records
 * the cut that separates a month's usage from the late usage the next month bills; a month
 * closed before the one before it would bill that month's usage as its own late usage (and the
 * earlier month's invoice would bill it again), and credit would be used out of order. So:
 *  - the first close of an installation may be any month: it starts the chain, and usage of
 *    earlier months is billed on its invoices (see `tenantsToInvoice`);
 *  - after that, only the month after the last closed one may close; a later one waits until
 *    the months before it are closed (the invoice scheduler closes them first);
 *  - a month before the first closed one is never closed: its usage is on the first invoices.
 */

/** The months closed so far: the first and the last (closes are in order, so every month between is closed). */
export interface ClosedMonths {
  first: string;
  last: string;
}

export type CloseDecision =
  /** Record the close now: the first one ever, or the month after the last closed. */
  | { kind: 'close' }
  /** Closed already: a re-run reuses its cut. */
  | { kind: 'closed' }
  /** `earlier` (the month after the last closed) must close first. */
  | { kind: 'wait'; earlier: string }
  /** Never closed: `reason` says why. */
  | { kind: 'refuse'; reason: string };

/** Whether `period` may close now, given the months closed so far and whether it is closed itself. */
export function closeDecision(period: string, closed: ClosedMonths | undefined, isClosed: boolean): CloseDecision {
  checkPeriod(period, 'period');
  if (isClosed) return { kind: 'closed' };
  if (closed === undefined) return { kind: 'close' };
  if (period < closed.first) {
    return {
      kind: 'refuse',
      reason: `${period} is before ${closed.first}, the first month ever closed: usage of earlier months was billed on the ${closed.first} invoices (or, when it arrived later, as late usage on the next month's)`,
    };
  }
  if (period <= closed.last) {
    return { kind: 'refuse', reason: `${period} lies between the first and last closed months (${closed.first} to ${closed.last}) but was never closed; months are closed in order and are not reopened` };
  }
  const next = nextPeriod(closed.last);
  return period === next ? { kind: 'close' } : { kind: 'wait', earlier: next };
}
