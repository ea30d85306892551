import { describe, expect, it } from 'vitest';
import { CatalogError, parseCatalog, parseIsoInstant, type CatalogProblem } from './catalog';
import { resolvePrice } from './resolve';
import { JAN_2025, MAR_2025, NOON_JUNE_1, testCostDocument } from './test-fixtures';

const catalog = parseCatalog(testCostDocument, 'test-costs.json');

function problemsOf(json: unknown, source = 'bad.json'): CatalogProblem[] {
  try {
    parseCatalog(json, source);
  } catch (error) {
    if (error instanceof CatalogError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a CatalogError');
}

function doc(models: unknown[]): unknown {
  return { format: 'meterline.prices/v1', models };
}

function model(prices: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { provider: 'p', model: 'm', versions: [{ effective_from: '2025-01-01', prices }], ...extra };
}

describe('parseCatalog', () => {
  it('converts prices to integer pico-USD per token, with defaults', () => {
    const alpha = catalog.entries.find((e) => e.provider === 'acme' && e.model === 'alpha')!;
    const v1 = alpha.versions[0]!;
    expect(v1.priceVersionId).toBe('acme/alpha@2025-01-01');
    expect(v1.effectiveFrom).toBe(JAN_2025);
    expect(v1.standard.rates).toEqual({ input: 1_000_000n, cache_read: 100_000n, cache_write: 1_250_000n, cache_write_1h: 1_250_000n, output: 4_000_000n, reasoning: 5_000_000n, request: 1_000_000_000n, audio_input: null, audio_output: null, image_input: null, image_output: null, units: new Map() });
    // Tier rates not given default within the tier: cache_read/cache_write = input, reasoning = output, request = 0.
    expect(v1.tiers.get('batch')!.rates).toEqual({ input: 500_000n, cache_read: 500_000n, cache_write: 500_000n, cache_write_1h: 500_000n, output: 2_000_000n, reasoning: 2_000_000n, request: 0n, audio_input: null, audio_output: null, image_input: null, image_output: null, units: new Map() });
    const v2 = alpha.versions[1]!;
    expect(v2.priceVersionId).toBe('acme/alpha@2025-06-01T12:00:00.000Z');
    const mini = catalog.entries.find((e) => e.model === 'alpha-mini')!;
    expect(mini.versions[0]!.priceVersionId).toBe('acme/alpha-mini@launch');
  });

  it('sorts versions by effective_from whatever the file order', () => {
    const parsed = parseCatalog(
      doc([
        {
          provider: 'p',
          model: 'm',
          versions: [
            { effective_from: '2025-06-01', prices: { input: '2', output: '2' } },
            { effective_from: '2025-01-01', prices: { input: '1', output: '1' } },
          ],
        },
      ]),
      'x.json',
    );
    expect(parsed.entries[0]!.versions.map((v) => v.priceVersionId)).toEqual(['p/m@2025-01-01', 'p/m@2025-06-01']);
  });

  it.each([
    // [what, prices, field, rule]
    ['sub-pico price per token', { input: '0.0000001', output: '1' }, 'versions[0].prices.input', 'pico_integer'],
    ['float-looking exponent below a pico', { input: '1', output: '1.5e-7' }, 'versions[0].prices.output', 'pico_integer'],
    ['not a decimal', { input: 'two', output: '1' }, 'versions[0].prices.input', 'decimal'],
    ['a comma', { input: '1,5', output: '1' }, 'versions[0].prices.input', 'decimal'],
    ['negative', { input: '-1', output: '1' }, 'versions[0].prices.input', 'non_negative'],
    ['request fee below a pico', { input: '1', output: '1', request: '0.0000000000001' }, 'versions[0].prices.request', 'pico_integer'],
    ['a number instead of a string', { input: 2.5, output: '1' }, 'versions[0].prices.input', 'invalid_type'],
    ['a misspelt field', { input: '1', output: '1', cache_reads: '0.1' }, 'versions[0].prices.cache_reads', 'unrecognized_keys'],
    ['a missing output', { input: '1' }, 'versions[0].prices.output', 'invalid_type'],
  ])('rejects %s naming file, entry, field and rule', (_what, prices, field, rule) => {
    const problems = problemsOf(doc([model(prices)]), 'costs.json');
    expect(problems).toContainEqual(expect.objectContaining({ file: 'costs.json', entry: 'p/m', field, rule }));
  });

  it.each(['standard', 'default', 'on_demand'])('rejects a tier named %j: it means the base prices', (name) => {
    const problems = problemsOf(doc([{ provider: 'p', model: 'm', versions: [{ effective_from: '2025-01-01', prices: { input: '1', output: '1' }, tiers: { [name]: { prices: { input: '1', output: '1' } } } }] }]), 'costs.json');
    expect(problems).toContainEqual(expect.objectContaining({ entry: 'p/m', field: `versions[0].tiers.${name}`, rule: 'reserved_tier' }));
  });

  it('explains why a sub-pico price is rejected', () => {
    const problems = problemsOf(doc([model({ input: '0.0000001', output: '1' })]), 'costs.json');
    expect(problems[0]!.message).toContain('"0.0000001"');
    expect(problems[0]!.message).toContain('not a whole number of pico-USD per token');
  });

  it('collects every problem across entries, not just the first', () => {
    const problems = problemsOf(
      doc([
        model({ input: '0.0000001', output: 'x' }),
        { provider: 'p', model: 'n', aliases: ['m'], match: ['n-2025'], versions: [{ effective_from: '2025-13-01', prices: { input: '1', output: '1' } }] },
        {
          provider: 'p',
          model: 'o',
          versions: [
            { effective_from: '2025-01-01', prices: { input: '1', output: '1' }, tiers: { standard: { prices: { input: '1', output: '1' } } } },
            { effective_from: '2025-01-01T00:00:00Z', prices: { input: '1', output: '1' } },
          ],
        },
        { provider: 'p', model: 'q', match: ['*'], versions: [{ effective_from: '2025-01-01', prices: { input: '1', output: '1' } }] },
        { provider: 'p', versions: [] },
      ]),
    );
    const brief = problems.map((p) => `${p.entry} ${p.field} ${p.rule}`);
    expect(brief).toEqual(
      expect.arrayContaining([
        'p/m versions[0].prices.input pico_integer',
        'p/m versions[0].prices.output decimal',
        'p/n versions[0].effective_from iso_time',
        'p/o versions[0].tiers.standard reserved_tier',
        'p/o versions[1].effective_from duplicate_effective_from',
        'p/q match[0] pattern_too_broad',
        'models[4] model invalid_type',
        'models[4] versions too_small',
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(8);
  });

  it('rejects a model name priced twice in one provider, and a pattern without a wildcard', () => {
    const problems = problemsOf(
      doc([
        model({ input: '1', output: '1' }),
        { provider: 'p', model: 'n', aliases: ['m'], match: ['n-2025'], versions: [{ effective_from: '2025-01-01', prices: { input: '1', output: '1' } }] },
        // The same name under another provider is fine.
        { provider: 'other', model: 'm', versions: [{ effective_from: '2025-01-01', prices: { input: '1', output: '1' } }] },
      ]),
    );
    expect(problems.map((p) => `${p.entry} ${p.field} ${p.rule}`)).toEqual(['p/n aliases[0] duplicate_name', 'p/n match[0] pattern_syntax']);
    expect(problems[0]!.message).toContain('already priced by p/m');
  });

  it('the error message lists each problem on its own line', () => {
    const json = doc([model({ input: '0.0000001', output: '1' })]);
    expect(() => parseCatalog(json, 'costs.json')).toThrow(
      /invalid price file costs\.json: 1 problem:\n {2}- costs\.json: p\/m: versions\[0\]\.prices\.input: .*\[pico_integer\]/,
    );
  });

  it('rejects the wrong format marker', () => {
    expect(problemsOf({ format: 'prices/v0', models: [] })).toContainEqual(expect.objectContaining({ entry: '(catalog)', field: 'format' }));
  });
});

describe('parseIsoInstant', () => {
  it.each([
    ['2025-06-10', Date.UTC(2025, 5, 10)],
    ['2025-06-10T12:00:00Z', Date.UTC(2025, 5, 10, 12)],
    ['2025-06-10T12:00Z', Date.UTC(2025, 5, 10, 12)],
    ['2025-06-10T12:00:00.5Z', Date.UTC(2025, 5, 10, 12, 0, 0, 500)],
    ['2025-06-10T14:00:00+02:00', Date.UTC(2025, 5, 10, 12)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
  ])('%s', (text, expected) => {
    expect(parseIsoInstant(text)).toBe(expected);
  });

  it.each(['2025-02-29', '2025-02-30', '2025-13-01', '2025-06-10T12:00:00', '2025-06-10T24:00:00Z', '10/06/2025', 'yesterday', ''])('rejects %j', (text) => {
    expect(parseIsoInstant(text)).toBeUndefined();
  });
});

describe('resolvePrice', () => {
  it.each([
    // [model, expected entry, matchedBy]
    ['alpha', 'alpha', 'model'],
    ['alpha-latest', 'alpha', 'alias'],
    ['alpha-2025-01-01', 'alpha', 'alias'],
    ['alpha-2025-03-03', 'alpha', 'pattern'],
    ['alpha-mini', 'alpha-mini', 'model'],
    ['alpha-mini-2025-03-03', 'alpha-mini', 'pattern'], // "alpha-mini-*" is longer than "alpha-*"
    ['beta-x-preview', 'beta', 'pattern'],
  ])('%s resolves to %s', (name, expected, matchedBy) => {
    const resolved = resolvePrice(catalog, 'acme', name, MAR_2025);
    expect(resolved?.entry.model).toBe(expected);
    expect(resolved?.matchedBy).toBe(matchedBy);
  });

  it.each([
    ['acme', 'delta'],
    ['acme', 'beta-x'], // "beta-*-preview" must match the whole name
    ['acme', 'ALPHA'], // names are exact
    ['nobody', 'alpha'],
  ])('%s/%s resolves to nothing', (provider, name) => {
    expect(resolvePrice(catalog, provider, name, MAR_2025)).toBeUndefined();
  });

  it('keeps providers apart', () => {
    expect(resolvePrice(catalog, 'other', 'alpha', MAR_2025)?.version.priceVersionId).toBe('other/alpha@2025-01-01');
  });

  it.each([
    [JAN_2025 - 1, undefined],
    [JAN_2025, 'acme/alpha@2025-01-01'],
    [NOON_JUNE_1 - 1, 'acme/alpha@2025-01-01'],
    [NOON_JUNE_1, 'acme/alpha@2025-06-01T12:00:00.000Z'],
    [NOON_JUNE_1 + 1, 'acme/alpha@2025-06-01T12:00:00.000Z'],
  ])('effective dating: at %i the version is %s', (at, expected) => {
    expect(resolvePrice(catalog, 'acme', 'alpha', at)?.version.priceVersionId).toBe(expected);
  });
});
