import { describe, expect, it } from 'vitest';
import { HOUR_MS } from './hour';
import { parseRollupGroupKey, rollupDimensions, rollupGroupKey, type RollupDimensions } from './group-key';

const H = Date.UTC(2026, 10, 23, 14);
const base: RollupDimensions = { tenant_id: 'acme', project_id: 'web', provider: 'openai', model: 'gpt-4o', operation: 'chat' };

function dims(over: Partial<RollupDimensions>): RollupDimensions {
  return { ...base, ...over };
}

describe('rollupGroupKey', () => {
  it.each([
    ['plain values', base, H, `acme|web|openai|gpt-4o|chat|${H}`],
    ['no project', dims({ project_id: '' }), H, `acme||openai|gpt-4o|chat|${H}`],
    ['a separator inside a value', dims({ model: 'a|b' }), H, `acme|web|openai|a\\|b|chat|${H}`],
    ['a backslash inside a value', dims({ model: 'a\\' }), H, `acme|web|openai|a\\\\|chat|${H}`],
    ['epoch hour', base, 0, 'acme|web|openai|gpt-4o|chat|0'],
  ])('%s', (_what, d, hour, expected) => {
    expect(rollupGroupKey(d, hour)).toBe(expected);
    expect(parseRollupGroupKey(expected)).toEqual({ dims: d, hourStartMs: hour });
  });

  it.each<[string, RollupDimensions, RollupDimensions]>([
    ['separator moved between fields', dims({ project_id: 'a|b', provider: 'c' }), dims({ project_id: 'a', provider: 'b|c' })],
    ['escape char at the end of a field', dims({ project_id: 'a\\', provider: 'b' }), dims({ project_id: 'a', provider: '\\b' })],
    ['escaped separator vs real one', dims({ model: 'x\\|y' }), dims({ model: 'x\\', operation: 'y' })],
    ['empty project vs empty tenant', dims({ tenant_id: 'a', project_id: '' }), dims({ tenant_id: '', project_id: 'a' })],
  ])('keeps apart groups that plain joining would merge: %s', (_what, a, b) => {
    expect(rollupGroupKey(a, H)).not.toBe(rollupGroupKey(b, H));
    expect(parseRollupGroupKey(rollupGroupKey(a, H)).dims).toEqual(a);
    expect(parseRollupGroupKey(rollupGroupKey(b, H)).dims).toEqual(b);
  });

  it('differs by hour', () => {
    expect(rollupGroupKey(base, H)).not.toBe(rollupGroupKey(base, H + HOUR_MS));
  });

  it.each([
    ['not hour-aligned', H + 1],
    ['fractional', H + 0.5],
    ['NaN', Number.NaN],
  ])('rejects an hour start that is %s', (_what, hour) => {
    expect(() => rollupGroupKey(base, hour)).toThrow(RangeError);
  });

  it.each([['too few parts', 'a|b|c'], ['bad escape', 'a\\x|b|c|d|e|0'], ['hour not a number', 'a|b|c|d|e|x'], ['too many parts', 'a|b|c|d|e|f|0']])(
    'parse rejects %s',
    (_what, key) => {
      expect(() => parseRollupGroupKey(key)).toThrow(SyntaxError);
    },
  );
});

describe('rollupDimensions', () => {
  it.each([
    ['with a project', 'web', 'web'],
    ['without a project', null, ''],
  ])('%s', (_what, project, expected) => {
    expect(rollupDimensions({ tenant_id: 't', project_id: project, provider: 'p', model: 'm', operation: 'o' })).toEqual({
      tenant_id: 't',
      project_id: expected,
      provider: 'p',
      model: 'm',
      operation: 'o',
    });
  });
});
