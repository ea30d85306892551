// Just enough of ClickHouse's lexical grammar to answer what the HTTP front has to know before
// the engine sees a query: its first keyword, how many statements it holds, the output FORMAT
// (for the response headers) and, for `INSERT ... FORMAT X`, where the inline data begins.
// It never parses expressions: the engine stays the only judge of what a query means.

export interface Token {
  kind: 'word' | 'quoted' | 'string' | 'symbol';
  start: number;
  end: number;
  /** Upper-cased for words, unquoted for quoted identifiers, the text for strings and symbols. */
  value: string;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r', '\f', '\v']);

// Bytes >= 0x80 (UTF-8 in identifiers) count as word characters, as in ClickHouse's lexer.
function isWordChar(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 0x80;
}

/** End of a `/* ... *\/` comment starting at `pos`; ClickHouse nests them. */
function skipBlockComment(text: string, pos: number): number {
  let depth = 0;
  let i = pos;
  while (i < text.length) {
    if (text.startsWith('/*', i)) {
      depth++;
      i += 2;
    } else if (text.startsWith('*/', i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return text.length;
}

function lineEnd(text: string, pos: number): number {
  const end = text.indexOf('\n', pos);
  return end === -1 ? text.length : end + 1;
}

function skipSpaceAndComments(text: string, from: number): number {
  let pos = from;
  for (;;) {
    const ch = text[pos];
    if (ch === undefined) return pos;
    if (WHITESPACE.has(ch)) pos++;
    else if (text.startsWith('--', pos)) pos = lineEnd(text, pos);
    else if (ch === '#' && (text[pos + 1] === ' ' || text[pos + 1] === '!')) pos = lineEnd(text, pos);
    else if (text.startsWith('/*', pos)) pos = skipBlockComment(text, pos);
    else return pos;
  }
}

/** End of a literal opened by `quote` at `pos`: backslash escapes and a doubled quote both continue it. */
function quotedEnd(text: string, pos: number, quote: string): number {
  let i = pos + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '\\') i += 2;
    else if (ch === quote && text[i + 1] === quote) i += 2;
    else if (ch === quote) return i + 1;
    else i++;
  }
  return text.length;
}

function unquote(raw: string): string {
  const quote = raw[0] ?? '';
  return raw.slice(1, raw.endsWith(quote) && raw.length > 1 ? -1 : undefined).replaceAll(quote + quote, quote).replace(/\\(.)/g, '$1');
}

/** `$tag$ ... $tag$` strings. */
function heredocEnd(text: string, pos: number): number | undefined {
  const open = /\$([A-Za-z0-9_]*)\$/y;
  open.lastIndex = pos;
  const match = open.exec(text);
  if (!match) return undefined;
  const close = text.indexOf(match[0], pos + match[0].length);
  return close === -1 ? text.length : close + match[0].length;
}

function readToken(text: string, pos: number): Token {
  const ch = text[pos] ?? '';
  if (ch === "'") return { kind: 'string', start: pos, end: quotedEnd(text, pos, ch), value: '' };
  if (ch === '`' || ch === '"') {
    const end = quotedEnd(text, pos, ch);
    return { kind: 'quoted', start: pos, end, value: unquote(text.slice(pos, end)) };
  }
  const heredoc = ch === '$' ? heredocEnd(text, pos) : undefined;
  if (heredoc !== undefined) return { kind: 'string', start: pos, end: heredoc, value: '' };
  if (isWordChar(ch)) {
    let end = pos + 1;
    while (end < text.length && isWordChar(text[end] ?? '')) end++;
    return { kind: 'word', start: pos, end, value: text.slice(pos, end).toUpperCase() };
  }
  return { kind: 'symbol', start: pos, end: pos + 1, value: ch };
}

/** Tokens read on demand, so a scan can stop where inline INSERT data begins. */
class TokenCursor {
  readonly #text: string;
  readonly #ahead: Token[] = [];
  #pos = 0;
  constructor(text: string) {
    this.#text = text;
  }

  peek(offset = 0): Token | undefined {
    while (this.#ahead.length <= offset) {
      const start = skipSpaceAndComments(this.#text, this.#pos);
      if (start >= this.#text.length) return undefined;
      const token = readToken(this.#text, start);
      this.#ahead.push(token);
      this.#pos = token.end;
    }
    return this.#ahead[offset];
  }

  next(): Token | undefined {
    const token = this.peek();
    if (token) this.#ahead.shift();
    return token;
  }
}

export interface InsertTarget {
  /** `db.table` or `table` when both are plain identifiers: what chdb's raw insert accepts. */
  table?: string;
  /** The column list when it is only plain identifiers. */
  columns?: string[];
  /** Offset of the SETTINGS or FORMAT clause after the target, where `FROM INFILE` fits. */
  clauseAt?: number;
  /** Whether FORMAT follows the target directly (no SETTINGS, no SELECT). */
  formatFollows: boolean;
}

export interface StatementInfo {
  /** First keyword, upper-cased ('' for an empty query; SELECT for one opening with a parenthesis). */
  keyword: string;
  /** Non-empty statements (ClickHouse's HTTP interface takes one). */
  statements: number;
  /** `FORMAT X` of a query's output. */
  outputFormat?: string;
  /** For `INSERT ... FORMAT X`: X, the end of the SQL and the offset of the inline data. */
  inputFormat?: string;
  sqlEnd: number;
  dataStart?: number;
  intoOutfile: boolean;
  fromInfile: boolean;
}

const PLAIN_NAME = /^[A-Za-z0-9_]+$/;

function isName(token: Token | undefined): token is Token {
  return token !== undefined && (token.kind === 'word' || token.kind === 'quoted');
}

/** A name as written: words are upper-cased by the lexer, format and table names are not. */
function spelling(text: string, token: Token): string {
  return token.kind === 'word' ? text.slice(token.start, token.end) : token.value;
}

/** ClickHouse's rule: after the format name skip blanks, then one line break. */
function inlineDataStart(text: string, formatEnd: number): number {
  let pos = formatEnd;
  while (text[pos] === ' ' || text[pos] === '\t' || text[pos] === '\f') pos++;
  if (text[pos] === '\r') pos++;
  if (text[pos] === '\n') pos++;
  return pos;
}

function firstKeyword(token: Token | undefined): string {
  if (token === undefined) return '';
  if (token.kind === 'symbol' && token.value === '(') return 'SELECT';
  return token.kind === 'word' ? token.value : token.value.toUpperCase();
}

interface ScanState {
  depth: number;
  content: boolean;
  previous?: Token;
}

function noteKeywordPairs(info: StatementInfo, previous: Token | undefined, token: Token): void {
  if (previous?.kind !== 'word' || token.kind !== 'word') return;
  if (previous.value === 'INTO' && token.value === 'OUTFILE') info.intoOutfile = true;
  if (previous.value === 'FROM' && token.value === 'INFILE') info.fromInfile = true;
}

/** Handles `FORMAT name`; returns true when the rest of the text is INSERT data. */
function onFormat(text: string, cursor: TokenCursor, info: StatementInfo): boolean {
  const name = cursor.peek();
  if (!isName(name)) return false;
  if (info.keyword === 'INSERT' && info.statements === 0) {
    cursor.next();
    info.inputFormat = spelling(text, name);
    info.sqlEnd = name.end;
    info.dataStart = inlineDataStart(text, name.end);
    return true;
  }
  // `SELECT format FROM t` has a column named format: a FORMAT clause ends the query.
  const after = cursor.peek(1);
  if (after === undefined || after.value === ';' || after.value === 'SETTINGS') {
    info.outputFormat = spelling(text, name);
  }
  return false;
}

function step(text: string, cursor: TokenCursor, info: StatementInfo, state: ScanState, token: Token): boolean {
  if (token.kind === 'symbol' && token.value === ';' && state.depth === 0) {
    if (state.content) info.statements++;
    state.content = false;
    return false;
  }
  state.content = true;
  if (token.kind === 'symbol') state.depth += token.value === '(' ? 1 : token.value === ')' ? -1 : 0;
  noteKeywordPairs(info, state.previous, token);
  const formatClause = token.kind === 'word' && token.value === 'FORMAT' && state.depth === 0 && state.previous?.value !== '.';
  return formatClause && onFormat(text, cursor, info);
}

/** Scans one query text (the URL's `query`, or a body holding the query). */
export function scanStatement(text: string): StatementInfo {
  const cursor = new TokenCursor(text);
  const info: StatementInfo = { keyword: firstKeyword(cursor.peek()), statements: 0, sqlEnd: text.length, intoOutfile: false, fromInfile: false };
  const state: ScanState = { depth: 0, content: false };
  for (let token = cursor.next(); token !== undefined; token = cursor.next()) {
    if (step(text, cursor, info, state, token)) {
      info.statements = 1;
      return info;
    }
    state.previous = token;
  }
  if (state.content) info.statements++;
  return info;
}

function readColumns(sql: string, cursor: TokenCursor): string[] | undefined {
  const columns: string[] = [];
  let plain = true;
  let depth = 0;
  for (let token = cursor.next(); token !== undefined; token = cursor.next()) {
    if (token.value === ')' && depth === 0) return plain && columns.length > 0 ? columns : undefined;
    if (token.kind === 'symbol') depth += token.value === '(' ? 1 : token.value === ')' ? -1 : 0;
    if (token.value === ',' && depth === 0) continue;
    const name = isName(token) ? spelling(sql, token) : '';
    if (PLAIN_NAME.test(name) && depth === 0) columns.push(name);
    else plain = false;
  }
  return undefined;
}

/** Consumes `name` or `db.name`; returns where it ends, or undefined when it is no table name. */
function readTableName(cursor: TokenCursor): number | undefined {
  const first = cursor.next();
  if (!isName(first) || first.value === 'FUNCTION') return undefined;
  if (cursor.peek()?.value !== '.') return first.end;
  cursor.next();
  const second = cursor.next();
  return isName(second) ? second.end : undefined;
}

/**
 * The target of `INSERT INTO [TABLE] name [(columns)] [SETTINGS ...] FORMAT X`, read from the
 * statement's SQL (without its data).
 */
export function scanInsertTarget(sql: string): InsertTarget {
  const cursor = new TokenCursor(sql);
  const none: InsertTarget = { formatFollows: false };
  if (cursor.next()?.value !== 'INSERT' || cursor.next()?.value !== 'INTO') return none;
  if (cursor.peek()?.value === 'TABLE') cursor.next();
  const tableStart = cursor.peek();
  if (tableStart === undefined) return none;
  const tableEnd = readTableName(cursor);
  if (tableEnd === undefined) return none;
  const table = plainTableName(sql.slice(tableStart.start, tableEnd));
  let columns: string[] | undefined;
  if (cursor.peek()?.value === '(') {
    cursor.next();
    columns = readColumns(sql, cursor);
    if (columns === undefined) return clauseOnly(cursor);
  }
  const clause = cursor.peek();
  if (clause?.kind !== 'word' || (clause.value !== 'SETTINGS' && clause.value !== 'FORMAT')) return none;
  return { table, columns, clauseAt: clause.start, formatFollows: clause.value === 'FORMAT' };
}

/** A target with a column list raw insert cannot take (`* EXCEPT (...)`): FROM INFILE still fits. */
function clauseOnly(cursor: TokenCursor): InsertTarget {
  const clause = cursor.peek();
  if (clause?.kind !== 'word' || (clause.value !== 'SETTINGS' && clause.value !== 'FORMAT')) return { formatFollows: false };
  return { clauseAt: clause.start, formatFollows: false };
}

/** `db.t`, `` `db`.`t` `` -> `db.t` when every part is a plain name; otherwise undefined. */
function plainTableName(table: string): string | undefined {
  const parts = table.split('.').map((part) => part.trim().replace(/^`(.*)`$/, '$1').replace(/^"(.*)"$/, '$1'));
  return parts.length <= 2 && parts.every((part) => PLAIN_NAME.test(part)) ? parts.join('.') : undefined;
}
