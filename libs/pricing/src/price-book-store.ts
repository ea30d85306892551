import { createHash } from 'node:crypto';
import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCatalog, parseTenantOverrides, priceEvent, CatalogError, type EventMoney, type PriceBooks, type UsageEvent } from '@meterline/domain';
import { MeterlineError, errorMessage, type Logger } from '@meterline/platform';

/** Where the three files live inside the pricing directory (see pricing/README.md). */
export const PRICE_FILES = {
  costBook: 'catalog/provider-costs.json',
  rateCard: 'catalog/rate-card.json',
  overrides: 'tenants/overrides.json',
} as const;

/** A price directory that cannot be used; `problems` lists every problem of every file. */
export class PriceBooksError extends MeterlineError {
  constructor(
    message: string,
    readonly problems: readonly string[],
    cause?: unknown,
  ) {
    super('PRICE_BOOKS_INVALID', message, { retriable: false, cause });
  }
}

/**
 * Reads and validates the price books of `dir`. Every problem of every file is collected and
 * thrown together. The overrides file is optional; the two catalogs are not.
 */
export function loadPriceBooks(dir: string): PriceBooks {
  const problems: string[] = [];
  const hash = createHash('sha256');
  const read = (name: string, required: boolean): unknown => {
    const path = join(dir, name);
    if (!existsSync(path)) {
      if (required) problems.push(`${path}: missing (every fleet needs a cost book and a rate card)`);
      return undefined;
    }
    const text = readFileSync(path, 'utf8');
    hash.update(name).update('\0').update(text).update('\0');
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      problems.push(`${path}: not JSON: ${errorMessage(error)}`);
      return undefined;
    }
  };
  const parse = <T>(json: unknown, name: string, parser: (json: unknown, source: string) => T): T | undefined => {
    if (json === undefined) return undefined;
    try {
      return parser(json, join(dir, name));
    } catch (error) {
      if (error instanceof CatalogError) problems.push(error.message);
      else problems.push(`${join(dir, name)}: ${errorMessage(error)}`);
      return undefined;
    }
  };
  const costBook = parse(read(PRICE_FILES.costBook, true), PRICE_FILES.costBook, parseCatalog);
  const rateCard = parse(read(PRICE_FILES.rateCard, true), PRICE_FILES.rateCard, parseCatalog);
  const overridesJson = read(PRICE_FILES.overrides, false);
  const overrides = parse(overridesJson, PRICE_FILES.overrides, parseTenantOverrides);
  if (problems.length > 0 || costBook === undefined || rateCard === undefined) {
    throw new PriceBooksError(`price books in ${resolve(dir)} are invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);
  }
  return { id: hash.digest('hex').slice(0, 16), costBook, rateCard, ...(overrides ? { overrides } : {}) };
}

/**
 * The price books in force, reloaded when a file in the directory changes (an invalid change
 * is logged with every problem and the previous books stay in force); `price(event)` prices
 * with the books in force.
 */
export class PriceBookStore {
  #books: PriceBooks;
  #watcher: FSWatcher | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  readonly #log: Logger;

  constructor(
    readonly dir: string,
    log: Logger,
    books?: PriceBooks,
  ) {
    this.#log = log.child({ component: 'price-books' });
    this.#books = books ?? loadPriceBooks(dir);
    this.#log.info({ dir: resolve(dir), id: this.#books.id }, 'price books loaded');
  }

  get books(): PriceBooks {
    return this.#books;
  }

  /** Reloads on changes under the directory (debounced). */
  watch(): this {
    this.#watcher ??= watch(this.dir, { recursive: true }, () => {
      clearTimeout(this.#reloadTimer);
      this.#reloadTimer = setTimeout(() => this.reload(), 200);
    });
    return this;
  }

  /** Loads the files again; keeps the books in force when they are invalid. Returns whether they changed. */
  reload(): boolean {
    try {
      const next = loadPriceBooks(this.dir);
      if (next.id === this.#books.id) return false;
      this.#books = next;
      this.#log.info({ id: next.id }, 'price books reloaded');
      return true;
    } catch (error) {
      this.#log.error({ err: errorMessage(error) }, 'price books not reloaded: the files are invalid; the previous books stay in force');
      return false;
    }
  }

  /** Prices one event with the books in force (the consumer counts and announces unpriced ones). */
  price(event: UsageEvent): EventMoney {
    return priceEvent(this.#books, event);
  }

  close(): void {
    clearTimeout(this.#reloadTimer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
