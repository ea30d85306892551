import { describe, expect, it } from 'vitest';
import { closeDecision, type CloseDecision, type ClosedMonths } from './close-order';

describe('closeDecision: months close in order from the first one ever closed', () => {
  const chain: ClosedMonths = { first: '2026-02', last: '2026-05' };
  it.each<[string, string, ClosedMonths | undefined, boolean, CloseDecision['kind'], string?]>([
    ['the first close of an installation may be any month', '2026-04', undefined, false, 'close'],
    ['the month after the last closed', '2026-06', chain, false, 'close'],
    ['across a year', '2027-01', { first: '2026-11', last: '2026-12' }, false, 'close'],
    ['a month closed already (a re-run)', '2026-03', chain, true, 'closed'],
    ['a month two after the last waits for the one between', '2026-07', chain, false, 'wait', '2026-06'],
    ['a month far ahead waits for the next one to close', '2027-03', chain, false, 'wait', '2026-06'],
    ['a month before the first closed is refused', '2026-01', chain, false, 'refuse'],
    ['a month inside the chain that is not closed is refused', '2026-03', chain, false, 'refuse'],
  ])('%s', (_what, period, closed, isClosed, kind, earlier) => {
    const decision = closeDecision(period, closed, isClosed);
    expect(decision.kind).toBe(kind);
    if (decision.kind === 'wait') expect(decision.earlier).toBe(earlier);
  });

  it('says why a month is refused', () => {
    expect(closeDecision('2026-01', chain, false)).toEqual({ kind: 'refuse', reason: expect.stringContaining('before 2026-02, the first month ever closed') as unknown });
    expect(() => closeDecision('2026-13', chain, false)).toThrow(/expected a month/);
  });
});
