import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeViolations, screenTelemetry, validateUsageEvent, type UsageEvent, type Violation } from '@meterline/domain';
import { Outcomes, fuzz, fuzzTimeoutMs } from '../support/fuzz';
import { plausibleUsageEvent } from './usage-events';

// The event validator against random and mutated events: it answers accepted or every violation,
// each naming the field at fault with a stable rule, and never throws. A valid event changed in
// some fields is refused for those fields only.

const NOW = Date.now();
const fields = Object.keys(fc.sample(plausibleUsageEvent(NOW), { numRuns: 1, seed: 1 })[0]!) as (keyof UsageEvent)[];

/** Values that break parsers and comparisons: edge numbers, odd strings, wrong shapes. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, -0, -1, 0.5, 1e308, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, 8.64e15 + 1, '', ' ', '\u0000', '\ud800', 'é'.repeat(300), null, undefined, true, [], {}),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.double(),
  fc.bigInt(),
  fc.dictionary(fc.string({ unit: 'binary', maxLength: 60 }), fc.oneof(fc.string({ maxLength: 200 }), fc.integer(), fc.double(), fc.constant(null)), { maxKeys: 40 }),
  fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 4 }),
  fc.anything({ maxDepth: 3 }),
);

function wellFormed(violations: readonly Violation[]): void {
  for (const v of violations) {
    expect(typeof v.field === 'string' && v.field.length > 0).toBe(true);
    expect(v.rule).toMatch(/^[a-z_0-9]+$/);
    expect(typeof v.message === 'string' && v.message.length > 0).toBe(true);
  }
  expect(typeof describeViolations(violations)).toBe('string');
}

describe('fuzz: event validator', () => {
  it('random objects, any reference time: accepted or violations naming field and rule, never a throw', { timeout: fuzzTimeoutMs }, async () => {
    const outcomes = new Outcomes();
    const event = fc.oneof(
      fc.dictionary(fc.constantFrom(...fields), hostile, { maxKeys: fields.length }),
      fc.object({ maxDepth: 2 }),
    );
    const referenceTime = fc.oneof(fc.constant(NOW), fc.integer(), fc.maxSafeInteger(), fc.constantFrom(-8.64e15 - 1, 8.64e15 + 1));
    const property = fc.property(event, referenceTime, (candidate, reference) => {
      const violations = validateUsageEvent(candidate as unknown as UsageEvent, reference);
      wellFormed(violations);
      outcomes.add(violations.length === 0 ? 'accepted' : 'refused');
      for (const v of violations) outcomes.add(`rule ${v.rule}`);
    });
    await fuzz('event-validator/random-objects', property, 2_000, outcomes);
    expect(outcomes.count('refused')).toBeGreaterThan(0);
  });

  it('a valid event with some fields changed or removed: accepted, or refused for those fields only', { timeout: fuzzTimeoutMs }, async () => {
    const outcomes = new Outcomes();
    const change = fc.record({ field: fc.constantFrom(...fields), value: fc.oneof({ weight: 4, arbitrary: hostile }, { weight: 1, arbitrary: fc.constant('(removed)') }) });
    const property = fc.property(plausibleUsageEvent(NOW), fc.array(change, { minLength: 1, maxLength: 3 }), (valid, changes) => {
      expect(validateUsageEvent(valid, NOW)).toEqual([]);
      const event: Record<string, unknown> = { ...valid };
      for (const { field, value } of changes) {
        if (value === '(removed)') delete event[field];
        else event[field] = value;
      }
      const violations = validateUsageEvent(event as unknown as UsageEvent, NOW);
      wellFormed(violations);
      const changed = new Set<string>(changes.map((c) => c.field));
      for (const v of violations) expect(changed.has(v.field.split('.')[0]!)).toBe(true);
      if (violations.length === 0) {
        // Accepted: the telemetry screen drops what is bad and throws for nothing.
        const warnings = screenTelemetry(event as unknown as UsageEvent);
        for (const w of warnings) expect(event[w.field]).toBeNull();
        outcomes.add(warnings.length === 0 ? 'accepted' : 'accepted, telemetry dropped');
      } else {
        outcomes.add('refused');
      }
    });
    await fuzz('event-validator/mutated-events', property, 2_000, outcomes);
    expect(outcomes.count('refused')).toBeGreaterThan(0);
  });
});
