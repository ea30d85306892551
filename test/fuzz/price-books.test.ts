import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { listPrices, priceEvent } from '@meterline/domain';
import { PRICE_FILES, PriceBooksError, loadPriceBooks } from '@meterline/pricing';
import { Outcomes, fuzz, fuzzTimeoutMs } from '../support/fuzz';
import { plausibleUsageEvent } from './usage-events';

// The price-book loader against corrupted price files: the shipped cost book, rate card and
// tenant overrides with values replaced, fields removed or added, text cut or garbled. Every
// load gives valid books (that price events and list without throwing) or a PriceBooksError
// whose every problem names the file at fault (and the entry, field and rule inside it).

const NOW = Date.now();
type FileName = keyof typeof PRICE_FILES;
const names = Object.keys(PRICE_FILES) as FileName[];
const shipped = Object.fromEntries(names.map((n) => [n, readFileSync(join('pricing', PRICE_FILES[n]), 'utf8')])) as Record<FileName, string>;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path in a JSON document, the root included. */
function paths(doc: Json, at: (string | number)[] = []): (string | number)[][] {
  const here = [at];
  if (Array.isArray(doc)) return [...here, ...doc.flatMap((v, i) => paths(v, [...at, i]))];
  if (doc !== null && typeof doc === 'object') return [...here, ...Object.entries(doc).flatMap(([k, v]) => paths(v, [...at, k]))];
  return here;
}

/** Values a hand-edited price file gets wrong: prices as numbers, decimals that are not, dates that do not exist. */
const badValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>('', ' 1', '1.', '.5', '-0', '-1', '1e401', '1e-401', '0.0000001', '1'.repeat(500), 'NaN', 'Infinity', '0x10', '1,5', '2025-02-30', '2025-13-01', '2025-06-10T24:00:00Z', '9999-12-31T23:59:59.999+23:59', '0000-01-01', 'standard', 'ON_DEMAND', '*', 'a*', '\ud800', 'meterline.prices/v2'),
  fc.constantFrom<Json>(0, -1, 0.5, 1e308, 2 ** 53, null, true, [], {}),
  fc.stringMatching(/^-?\d{1,20}(\.\d{1,14})?(e[+-]?\d{1,3})?$/),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

type Edit = { op: 'replace'; at: number; value: Json } | { op: 'remove'; at: number } | { op: 'add'; at: number; key: string; value: Json } | { op: 'duplicate'; at: number };
const edit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: badValue }) },
  fc.record({ op: fc.constant('remove' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: fc.oneof(fc.constantFrom('input', 'prices', 'tiers', 'batch', 'thresholds', 'units', '__proto__', 'constructor'), fc.string({ maxLength: 8 })), value: badValue }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat() }),
);

function applyEdit(doc: Json, e: Edit): Json {
  const all = paths(doc);
  const path = all[e.at % all.length]!;
  if (path.length === 0) return e.op === 'replace' ? e.value : doc;
  const parent = path.slice(0, -1).reduce<Json>((node, key) => (node as Record<string | number, Json>)[key]!, doc) as Record<string | number, Json> | Json[];
  const key = path.at(-1)!;
  if (e.op === 'replace') (parent as Record<string | number, Json>)[key] = e.value;
  else if (e.op === 'remove') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (e.op === 'duplicate') {
    if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number]!));
  } else {
    const target = (parent as Record<string | number, Json>)[key];
    if (target !== null && typeof target === 'object' && !Array.isArray(target)) Object.defineProperty(target, e.key, { value: e.value, enumerable: true, configurable: true, writable: true });
  }
  return doc;
}

/** What one file becomes: shipped, edited as JSON, garbled as text, or missing. */
type FileCase = { kind: 'shipped' } | { kind: 'edited'; edits: Edit[] } | { kind: 'text'; cut: number; insert: string } | { kind: 'missing' };
const fileCase: fc.Arbitrary<FileCase> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'shipped' as const }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('edited' as const), edits: fc.array(edit, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('text' as const), cut: fc.nat(), insert: fc.oneof(fc.constant(''), fc.constant('\ufeff'), fc.string({ unit: 'binary', maxLength: 4 })) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'missing' as const }) },
);

function contents(name: FileName, c: FileCase): string | undefined {
  switch (c.kind) {
    case 'shipped':
      return shipped[name];
    case 'missing':
      return undefined;
    case 'text': {
      const at = c.cut % (shipped[name].length + 1);
      // Cut short there, or something inserted (a BOM, stray characters).
      return c.insert === '' ? shipped[name].slice(0, at) : shipped[name].slice(0, at) + c.insert + shipped[name].slice(at);
    }
    case 'edited':
      return JSON.stringify(c.edits.reduce<Json>((doc, e) => applyEdit(doc, e), JSON.parse(shipped[name]) as Json));
  }
}

describe('fuzz: price-book loader', () => {
  it('corrupted price files: valid books that price every event, or every problem naming its file', { timeout: fuzzTimeoutMs }, async () => {
    const outcomes = new Outcomes();
    const files = fc.record(Object.fromEntries(names.map((n) => [n, fileCase])) as Record<FileName, fc.Arbitrary<FileCase>>);
    const property = fc.property(files, fc.array(plausibleUsageEvent(NOW), { minLength: 1, maxLength: 3 }), (cases, events) => {
      const dir = mkdtempSync(join(tmpdir(), 'meterline-fuzz-prices-'));
      dirs.push(dir);
      mkdirSync(join(dir, 'catalog'));
      mkdirSync(join(dir, 'tenants'));
      const changed = new Set<string>();
      for (const name of names) {
        const text = contents(name, cases[name]);
        if (text !== shipped[name]) changed.add(join(dir, PRICE_FILES[name]));
        if (text !== undefined) writeFileSync(join(dir, PRICE_FILES[name]), text);
      }
      let books;
      try {
        books = loadPriceBooks(dir);
      } catch (error) {
        if (!(error instanceof PriceBooksError)) throw new Error(`loadPriceBooks threw ${String(error)}, not a PriceBooksError`, { cause: error });
        expect(error.problems.length).toBeGreaterThan(0);
        for (const problem of error.problems) {
          // `<file>: not JSON: ...`, or a catalog's `invalid price file <file>: N problems:` with a line per problem.
          const file = [...changed].find((path) => problem.startsWith(`${path}: `) || problem.startsWith(`invalid price file ${path}: `));
          expect(file, `problem names a file that was changed: ${problem}`).toBeDefined();
          if (problem.startsWith('invalid price file ')) for (const line of problem.split('\n').slice(1)) expect(line.startsWith(`  - ${file}: `), `each listed problem names the file: ${line}`).toBe(true);
        }
        outcomes.add(`refused (${error.problems.length === 1 ? '1 problem' : 'problems'})`);
        return;
      } finally {
        rmSync(dir, { recursive: true, force: true });
        dirs.pop();
      }
      for (const event of events) priceEvent(books, event);
      listPrices(books);
      outcomes.add(changed.size === 0 ? 'loaded (as shipped)' : 'loaded (changed, still valid)');
    });
    await fuzz('price-book-loader/corrupted-files', property, 300, outcomes);
    expect(outcomes.count('loaded (as shipped)') + outcomes.count('loaded (changed, still valid)')).toBeGreaterThan(0);
  });
});
