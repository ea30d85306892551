import { describe, expect, it } from 'vitest';
import { luaTable, streamLayout } from './layout';
import { redisKeys, tenantPrefix } from './keys';
import { loadScripts } from './scripts';

describe('stream layout', () => {
  it('renders nested names as a Lua table constructor', () => {
    expect(luaTable({ a: 'x:', b: { c: 'y' } })).toBe("{ a = 'x:', b = { c = 'y' } }");
  });

  it('refuses a name that would need escaping', () => {
    expect(() => luaTable({ a: "it's" })).toThrow(/not a plain name/);
  });

  it('every script gets the layout on its first line (Lua line numbers stay the file\'s)', () => {
    for (const script of loadScripts()) {
      expect(script.lua.startsWith(`local LAYOUT = ${luaTable(streamLayout)} --`)).toBe(true);
    }
  });

  it('keys are built from the layout', () => {
    const prefix = tenantPrefix('a{b}');
    expect(prefix).toBe('ml:{a%7Bb%7D}:');
    const cases: [string, string][] = [
      [redisKeys.watermark('a{b}', 3), `${prefix}${streamLayout.tenantKeys.watermark}3`],
      [redisKeys.seen('a{b}', 7_200_000), `${prefix}${streamLayout.tenantKeys.seen}7200000`],
      [redisKeys.rollup('a{b}', 1, 3_600_000, '["p"]'), `${prefix}${streamLayout.tenantKeys.rollup}1:3600000:["p"]`],
      [redisKeys.openHours('a{b}', 2), `${prefix}${streamLayout.tenantKeys.openHours}2`],
      [redisKeys.quotaCounter('a{b}', 'q', 5), `${prefix}${streamLayout.tenantKeys.quotaCounter}q:5`],
      [redisKeys.epoch(), `${streamLayout.root}:${streamLayout.globalKeys.epoch}`],
    ];
    for (const [actual, expected] of cases) expect(actual).toBe(expected);
  });
});
