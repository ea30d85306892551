// Files for operators, kept honest: the Dockerfile, compose.yaml and the README's configuration
// table are checked against the repository, the apps and the configuration schema. Docker does
// not run on the development machine, so this is what notices when one of them drifts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { apiApp } from '@meterline/api';
import { clickhouseSinkApp } from '@meterline/clickhouse-sink';
import { invoiceSchedulerApp } from '@meterline/invoice-scheduler';
import { fleetConfigSchema } from '@meterline/platform';
import { rollupConsumerApp } from '@meterline/rollup-consumer';
import type { App } from '@meterline/runtime';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const existsInRepo = (path: string): boolean => existsSync(join(root, path));

/** The environment-level schema (before `.transform` builds the nested config). */
const envSchema = fleetConfigSchema.in;
const schemaKeys = new Set(Object.keys(envSchema.shape));
/** Every variable's value when the environment is empty (undefined: no default). */
const envDefaults: Record<string, unknown> = envSchema.parse({});

const apps: readonly App[] = [apiApp, clickhouseSinkApp, rollupConsumerApp, invoiceSchedulerApp];
/** CLI commands a service may run besides the apps (each must be a case of apps/cli/src/main.ts). */
const serviceCommands = ['migrate'];

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined. */
function dockerInstructions(text: string): Instruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending !== '') logical.push(pending);
  return logical.map((line) => {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    return { keyword: (match?.[1] ?? '').toUpperCase(), args: match?.[2] ?? '' };
  });
}

/** `ENV A=1 B=2` (or the legacy `ENV A 1`) as names. */
function envNames(args: string): string[] {
  if (!args.includes('=')) return [args.split(/\s+/)[0] ?? ''];
  return [...args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1] ?? '');
}

/**
 * Problems of a Dockerfile: a COPY from the build context naming a path the repository lacks
 * (or one .dockerignore leaves out), an ENTRYPOINT whose script is missing, a runtime stage
 * running as root, an ENV name the configuration schema does not know.
 */
function dockerfileProblems(text: string, dockerignore: string, exists: (path: string) => boolean, keys: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const instructions = dockerInstructions(text);
  const ignored = dockerignore.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!')).map((l) => l.replace(/^\/|\/$/g, ''));
  let copies = 0;
  for (const { keyword, args } of instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')) {
    const words = args.split(/\s+/).filter((w) => w !== '');
    if (words.some((w) => w.startsWith('--from='))) continue; // from another stage
    const paths = words.filter((w) => !w.startsWith('--'));
    for (const source of paths.slice(0, -1)) {
      copies += 1;
      const path = source.replace(/^\.\//, '').replace(/\/$/, '');
      if (!exists(path)) problems.push(`${keyword} ${source}: no such path in the repository`);
      const parts = path.split('/');
      const hit = ignored.find((pattern) => parts.some((_, i) => parts.slice(0, i + 1).join('/') === pattern));
      if (hit !== undefined) problems.push(`${keyword} ${source}: left out of the build context by .dockerignore (${hit})`);
    }
  }
  if (copies === 0) problems.push('no COPY from the build context');

  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
  const runtime = instructions.slice(lastFrom + 1);
  const entrypoints = runtime.filter((i) => i.keyword === 'ENTRYPOINT');
  const entrypoint = entrypoints.at(-1);
  if (entrypoint === undefined) problems.push('the runtime stage has no ENTRYPOINT');
  else {
    let argv: unknown;
    try {
      argv = JSON.parse(entrypoint.args);
    } catch {
      argv = undefined;
    }
    if (!Array.isArray(argv) || !argv.every((a): a is string => typeof a === 'string')) problems.push(`ENTRYPOINT is not in exec form: ${entrypoint.args}`);
    else {
      const script = argv.find((a) => /\.(ts|mjs|js)$/.test(a));
      if (script === undefined) problems.push(`ENTRYPOINT names no script: ${entrypoint.args}`);
      else if (!exists(script)) problems.push(`ENTRYPOINT script ${script}: no such file in the repository`);
      if (script?.endsWith('.ts') === true && !argv.includes('tsx')) problems.push('ENTRYPOINT runs TypeScript without --import tsx');
    }
  }
  const user = runtime.filter((i) => i.keyword === 'USER').at(-1)?.args.split(':')[0];
  if (user === undefined || user === 'root' || user === '0') problems.push(`the runtime stage runs as ${user ?? 'root (no USER)'}`);
  for (const { args } of instructions.filter((i) => i.keyword === 'ENV')) {
    for (const name of envNames(args)) {
      if (name !== 'NODE_ENV' && !keys.has(name)) problems.push(`ENV ${name}: not a key of fleetConfigSchema`);
    }
  }
  return problems;
}

/** ENV values set in the runtime stage. */
function runtimeEnv(text: string): Map<string, string> {
  const instructions = dockerInstructions(text);
  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
  const env = new Map<string, string>();
  for (const { keyword, args } of instructions.slice(lastFrom + 1)) {
    if (keyword !== 'ENV') continue;
    for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) env.set(m[1] ?? '', (m[2] ?? '').replace(/^"|"$/g, ''));
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// compose.yaml

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A YAML scalar as compose passes it to the container (null: empty). */
function scalarText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
  return JSON.stringify(value);
}

/** A service's environment as name -> value, from the map or the `NAME=value` list form. */
function serviceEnvironment(service: Record<string, unknown>): Map<string, string> {
  const env = new Map<string, string>();
  const raw = service.environment;
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const text = scalarText(entry);
      const at = text.indexOf('=');
      env.set(at < 0 ? text : text.slice(0, at), at < 0 ? '' : text.slice(at + 1));
    }
  } else if (isRecord(raw)) {
    for (const [name, value] of Object.entries(raw)) env.set(name, scalarText(value));
  }
  return env;
}

/** Compose's `${NAME:-default}` / `${NAME-default}` / `${NAME}` with nothing set on the host. */
const interpolateUnset = (value: string): string => value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}/g, (_m, fallback: string | undefined) => fallback ?? '');

/** `http://127.0.0.1:8789/readyz` in a healthcheck test: its port. */
function readyzPort(service: Record<string, unknown>): number | undefined {
  const healthcheck = service.healthcheck;
  if (!isRecord(healthcheck)) return undefined;
  const test = Array.isArray(healthcheck.test) ? healthcheck.test.join(' ') : String(healthcheck.test);
  const match = /:(\d+)\/readyz/.exec(test);
  return match ? Number(match[1]) : undefined;
}

/**
 * Problems of a compose file. Its meterline services are the ones built from the Dockerfile;
 * each must run an app or one of `commands`, set only variables of the configuration schema,
 * with values the schema accepts, and probe /readyz on the port its app listens on. Every app
 * must have a service, and every depends_on must name a service.
 */
function composeProblems(compose: unknown, appList: readonly App[], commands: readonly string[], keys: ReadonlySet<string>, imageEnv: ReadonlyMap<string, string> = new Map()): string[] {
  if (!isRecord(compose) || !isRecord(compose.services)) return ['no services'];
  const problems: string[] = [];
  const services = compose.services;
  const byName = new Map(appList.map((app) => [app.name, app]));
  const run = new Set<string>();
  let meterlineServices = 0;
  for (const [name, service] of Object.entries(services)) {
    if (!isRecord(service)) {
      problems.push(`${name}: not a mapping`);
      continue;
    }
    const dependsOn = service.depends_on;
    const needs = Array.isArray(dependsOn) ? dependsOn.map(String) : isRecord(dependsOn) ? Object.keys(dependsOn) : [];
    for (const other of needs) if (!(other in services)) problems.push(`${name}: depends_on ${other}, which is no service`);
    if (service.build === undefined) continue; // Kafka, Redis, ClickHouse: not ours
    meterlineServices += 1;
    const context = isRecord(service.build) ? service.build.context : service.build;
    if (context !== '.' && context !== './') problems.push(`${name}: built from ${String(context)}, not the repository root's Dockerfile`);

    const command = Array.isArray(service.command) ? service.command.map(String) : typeof service.command === 'string' ? service.command.split(/\s+/) : [];
    const first = command[0];
    const app = first === undefined ? undefined : byName.get(first);
    if (first === undefined) problems.push(`${name}: no command (the image's default would run)`);
    else if (app === undefined && !commands.includes(first)) problems.push(`${name}: command "${first}" is neither an app (${[...byName.keys()].join(', ')}) nor one of ${commands.join(', ')}`);
    if (first !== undefined) run.add(first);

    const env = serviceEnvironment(service);
    for (const variable of env.keys()) if (!keys.has(variable)) problems.push(`${name}: ${variable} is not a key of fleetConfigSchema`);
    const values = Object.fromEntries([...imageEnv, ...[...env].map(([k, v]): [string, string] => [k, interpolateUnset(v)])]);
    const parsed = envSchema.safeParse(values);
    if (!parsed.success) for (const issue of parsed.error.issues) problems.push(`${name}: ${issue.path.join('.')}: ${issue.message}`);

    if (app !== undefined && parsed.success) {
      // Where this process serves /readyz: the api on its HTTP port, a worker on its health port.
      const expected = app.healthPort === undefined ? parsed.data.METERLINE_HTTP_PORT : (parsed.data.METERLINE_HEALTH_PORT ?? app.healthPort);
      const probed = readyzPort(service);
      if (expected === 0) problems.push(`${name}: its /readyz listener is turned off (port 0)`);
      else if (probed !== expected) problems.push(`${name}: the healthcheck probes ${probed === undefined ? 'no /readyz' : `/readyz on port ${probed}`}, the app serves it on ${expected}`);
    }
  }
  if (meterlineServices === 0) problems.push('no service is built from the Dockerfile');
  for (const app of appList) if (!run.has(app.name)) problems.push(`no service runs the app ${app.name}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// README configuration table

interface TableRow {
  line: number;
  names: string[];
  defaults: string;
}

/** Rows of the README's configuration table (the one listing METERLINE_TOPIC_INVOICES). */
function configurationTable(readme: string): TableRow[] {
  const lines = readme.split('\n');
  const anchor = lines.findIndex((l) => l.startsWith('|') && l.includes('`METERLINE_TOPIC_INVOICES`'));
  if (anchor < 0) return [];
  let start = anchor;
  while (start > 0 && (lines[start - 1] ?? '').startsWith('|')) start -= 1;
  let end = anchor;
  while (end + 1 < lines.length && (lines[end + 1] ?? '').startsWith('|')) end += 1;
  const rows: TableRow[] = [];
  for (let i = start + 2; i <= end; i += 1) {
    // Cells split on `|` outside backticks (a default may hold a `|`).
    const cells = (lines[i] ?? '').split(/\|(?=(?:[^`]*`[^`]*`)*[^`]*$)/).slice(1, -1).map((c) => c.trim());
    rows.push({ line: i + 1, names: [...(cells[0] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''), defaults: cells[1] ?? '' });
  }
  return rows;
}

/**
 * Problems of the configuration table: a row naming a variable the schema lacks, a schema key
 * without a row, a default that differs from the schema's. A default cell of backticked values
 * (`a`, `b` for a two-variable row) must parse to the schema's default; any other cell ("unset",
 * "unset: the app's own ...") says the variable has none.
 */
function readmeTableProblems(readme: string, keys: ReadonlySet<string>): string[] {
  const rows = configurationTable(readme);
  if (rows.length === 0) return ['no configuration table (a table listing `METERLINE_TOPIC_INVOICES`)'];
  const problems: string[] = [];
  const listed = new Map<string, number>();
  for (const row of rows) {
    if (row.names.length === 0) problems.push(`line ${row.line}: no variable in the first cell`);
    for (const name of row.names) {
      if (!keys.has(name)) problems.push(`line ${row.line}: ${name} is not a key of fleetConfigSchema`);
      const before = listed.get(name);
      if (before !== undefined) problems.push(`line ${row.line}: ${name} already listed on line ${before}`);
      listed.set(name, row.line);
    }
    const literal = /^`[^`]*`(?:\s*,\s*`[^`]*`)*$/.test(row.defaults) ? [...row.defaults.matchAll(/`([^`]*)`/g)].map((m) => m[1] ?? '') : undefined;
    if (literal !== undefined && literal.length !== row.names.length) {
      problems.push(`line ${row.line}: ${row.names.length} variable(s) but ${literal.length} default(s)`);
      continue;
    }
    row.names.forEach((name, i) => {
      if (!keys.has(name)) return;
      const schemaDefault = envDefaults[name];
      const text = literal?.[i];
      if (text === undefined) {
        if (schemaDefault !== undefined) problems.push(`line ${row.line}: ${name} has no default in the table, the schema's is ${JSON.stringify(schemaDefault)}`);
        return;
      }
      const parsed = envSchema.safeParse({ [name]: text });
      if (!parsed.success) problems.push(`line ${row.line}: ${name}'s default \`${text}\` does not parse: ${parsed.error.issues.map((e) => e.message).join('; ')}`);
      else if (schemaDefault === undefined) problems.push(`line ${row.line}: ${name} has default \`${text}\` in the table, none in the schema`);
      else if (!isDeepStrictEqual((parsed.data as Record<string, unknown>)[name], schemaDefault)) problems.push(`line ${row.line}: ${name}'s default \`${text}\` differs from the schema's ${JSON.stringify(schemaDefault)}`);
    });
  }
  for (const key of keys) if (!listed.has(key)) problems.push(`${key} has no row in the configuration table`);
  return problems;
}

// ---------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('copies only paths that exist, runs apps/cli/src/main.ts through tsx as a non-root user, sets only schema variables', () => {
    expect(dockerfileProblems(dockerfile, read('.dockerignore'), existsInRepo, schemaKeys)).toEqual([]);
  });

  it('runs in production mode with JSON logs', () => {
    const env = runtimeEnv(dockerfile);
    expect(env.get('NODE_ENV')).toBe('production');
    expect(env.get('METERLINE_LOG_FORMAT')).toBe('json');
  });

  it('reports what drifted (the checker can fail)', () => {
    const drifted = [
      'FROM node:24-bookworm-slim AS deps',
      'COPY package.json no-such-dir/ ./',
      'COPY --from=elsewhere /nowhere ./',
      'FROM node:24-bookworm-slim',
      'ENV NODE_ENV=production \\',
      '    METERLINE_NO_SUCH_SETTING=1',
      'COPY pricing/ pricing/',
      'ENTRYPOINT ["node", "--import", "tsx", "apps/cli/src/gone.ts"]',
    ].join('\n');
    expect(dockerfileProblems(drifted, 'pricing\n', existsInRepo, schemaKeys)).toEqual([
      'COPY no-such-dir/: no such path in the repository',
      'COPY pricing/: left out of the build context by .dockerignore (pricing)',
      'ENTRYPOINT script apps/cli/src/gone.ts: no such file in the repository',
      'the runtime stage runs as root (no USER)',
      'ENV METERLINE_NO_SUCH_SETTING: not a key of fleetConfigSchema',
    ]);
  });
});

describe('compose.yaml', () => {
  const compose: unknown = parseYaml(read('compose.yaml'), { merge: true });

  it('runs every app, each service an app or a CLI command, with only schema variables, valid values and a /readyz healthcheck on the right port', () => {
    expect(composeProblems(compose, apps, serviceCommands, schemaKeys, runtimeEnv(read('Dockerfile')))).toEqual([]);
  });

  it('runs migrate once, before the apps start', () => {
    const services = (compose as { services: Record<string, { command?: string[]; depends_on?: Record<string, { condition?: string }> }> }).services;
    const migrate = Object.entries(services).find(([, s]) => s.command?.[0] === 'migrate')?.[0];
    expect(migrate).toBeDefined();
    for (const app of apps) {
      const service = Object.values(services).find((s) => s.command?.[0] === app.name);
      expect(service?.depends_on?.[migrate ?? '']?.condition, app.name).toBe('service_completed_successfully');
    }
  });

  it('the CLI commands services run exist in apps/cli/src/main.ts', () => {
    const main = read('apps/cli/src/main.ts');
    for (const command of serviceCommands) expect(main).toContain(`case '${command}':`);
  });

  it('reports what drifted (the checker can fail)', () => {
    const drifted: unknown = parseYaml(
      [
        'services:',
        '  kafka: { image: "apache/kafka:3.9.1" }',
        '  sink:',
        '    build: .',
        '    command: ["clickhouse-sink"]',
        '    environment: { METERLINE_SINK_FLUSH_MS: "soon", METERLINE_BOGUS: "1" }',
        '    healthcheck: { test: ["CMD", "node", "-e", "fetch(\'http://127.0.0.1:8789/readyz\')"] }',
        '    depends_on: [kafka, redis]',
        '  typo:',
        '    build: .',
        '    command: ["rollup-consumr"]',
      ].join('\n'),
    );
    expect(composeProblems(drifted, [clickhouseSinkApp, rollupConsumerApp], serviceCommands, schemaKeys)).toEqual([
      'sink: depends_on redis, which is no service',
      'sink: METERLINE_BOGUS is not a key of fleetConfigSchema',
      'sink: METERLINE_SINK_FLUSH_MS: "soon" is not a duration (e.g. 500ms, 10s, 5m, 24h, 90d)',
      'typo: command "rollup-consumr" is neither an app (clickhouse-sink, rollup-consumer) nor one of migrate',
      'no service runs the app rollup-consumer',
    ]);
    const wrongPort: unknown = parseYaml('services:\n  sink:\n    build: .\n    command: ["clickhouse-sink"]\n    healthcheck: { test: "curl http://127.0.0.1:8789/readyz" }\n');
    expect(composeProblems(wrongPort, [clickhouseSinkApp], serviceCommands, schemaKeys)).toEqual(['sink: the healthcheck probes /readyz on port 8789, the app serves it on 8788']);
  });
});

describe("README's configuration table", () => {
  it('has a row for every key of fleetConfigSchema, names no other variable, and gives the schema defaults', () => {
    expect(readmeTableProblems(read('README.md'), schemaKeys)).toEqual([]);
  });

  it('reports what drifted (the checker can fail)', () => {
    const table = [
      '| variable | default | meaning |',
      '|---|---|---|',
      '| `METERLINE_TOPIC_INVOICES` | `invoices` | |',
      '| `METERLINE_SINK_FLUSH_MS`, `METERLINE_SINK_FLUSH_ROWS` | `1s`, `10000` | |',
      '| `LOG_FORMAT` | `auto` | |',
      '| `CLICKHOUSE_URL` | `http://127.0.0.1:8123` | |',
      '| `METERLINE_HEALTH_HOST` | unset | |',
    ].join('\n');
    const keys = new Set(['METERLINE_TOPIC_INVOICES', 'METERLINE_SINK_FLUSH_MS', 'METERLINE_SINK_FLUSH_ROWS', 'CLICKHOUSE_URL', 'METERLINE_HEALTH_HOST', 'METERLINE_LOG_FORMAT']);
    expect(readmeTableProblems(`# x\n\n${table}\n\nafter\n`, keys)).toEqual([
      "line 6: METERLINE_SINK_FLUSH_MS's default `1s` differs from the schema's 500",
      'line 7: LOG_FORMAT is not a key of fleetConfigSchema',
      'line 8: CLICKHOUSE_URL has default `http://127.0.0.1:8123` in the table, none in the schema',
      'line 9: METERLINE_HEALTH_HOST has no default in the table, the schema\'s is "127.0.0.1"',
      'METERLINE_LOG_FORMAT has no row in the configuration table',
    ]);
  });
});
