import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Logger } from './logging';
import { SampledWarnings } from './sampled-log';

function capture(): { lines: Record<string, unknown>[]; log: Logger } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'warn' }, stream) };
}

describe('SampledWarnings', () => {
  it('logs the first of each reason, then one sample per interval with the count left unlogged', () => {
    const { lines, log } = capture();
    let now = 0;
    const warnings = new SampledWarnings(log, 'skipped', 1_000, () => now);
    const steps: { at: number; reason: string; logged: boolean }[] = [
      { at: 0, reason: 'a', logged: true },
      { at: 10, reason: 'a', logged: false },
      { at: 20, reason: 'b', logged: true },
      { at: 999, reason: 'a', logged: false },
      { at: 1_000, reason: 'a', logged: true },
      { at: 1_500, reason: 'b', logged: true },
    ];
    for (const step of steps) {
      now = step.at;
      expect(warnings.note(step.reason, { offset: String(step.at) })).toBe(step.logged);
    }
    expect(lines.map((l) => [l.reason, l.offset, l.unloggedSinceLastSample, l.msg])).toEqual([
      ['a', '0', 0, 'skipped'],
      ['b', '20', 0, 'skipped'],
      ['a', '1000', 2, 'skipped'],
      ['b', '1500', 0, 'skipped'],
    ]);
  });
});
