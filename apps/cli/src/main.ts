import { parseArgs } from 'node:util';
import { lifetimeUsage, migrate, openClickHouse, reconcileUsage } from '@meterline/clickhouse';
import { QuotaStore } from '@meterline/quotas';
import { createKafka } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { ConfigError, createLogger, errorMessage, fleetConfigSchema, parseConfig, type FleetConfig, type Logger } from '@meterline/platform';
import { listUnpriced, loadPriceBooks, rerateReportCsv, rerateUsage } from '@meterline/pricing';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startClickHouseHttpServer } from '@meterline/local';
import { runApp } from '@meterline/runtime';
import { openApiDocument, tenantUsageToWire, type TenantUsage } from '@meterline/api';
import { ADMIN_KEY_FILE, fleetApps, runFleet } from './fleet';
import { keysCommand } from './keys-command';
import { invoiceCommand } from './invoice-command';

const usageText = `meterline: exactly-once metering of LLM usage

Usage:
  meterline start [--rate N] [--no-traffic] [--data-dir DIR] [--clickhouse-port P] [--processes]
                              run every app in one process with local Kafka, Redis and
                              embedded ClickHouse, plus N sample events/s (default 200);
                              the embedded ClickHouse is also served over HTTP on P
                              (default 8123, 127.0.0.1 only; 0: not served); --processes:
                              each app in its own child process, sharing ClickHouse over HTTP;
                              DIR (default .data) holds Kafka, Redis, ClickHouse, the spool and
                              invoice documents unless their variables name other places
  meterline api | clickhouse-sink | rollup-consumer | invoice-scheduler
                              run one app as its own process (an operator's service);
                              /livez and /readyz on METERLINE_HEALTH_PORT (api: its own port)
  meterline clickhouse serve [--port P] [--host H] [--user NAME:PASSWORD[:readonly]]...
                              serve the embedded ClickHouse (METERLINE_CHDB_PATH) over
                              ClickHouse's HTTP interface, so separate processes share it
                              (CLICKHOUSE_URL=http://127.0.0.1:P); a local convenience, not
                              a production server
  meterline migrate           apply ClickHouse migrations (safe to run twice)
  meterline usage [--tenant T] [--url URL] [--json]
                              live per-tenant totals (through the running fleet's HTTP API,
                              or straight from ClickHouse when no fleet runs)
  meterline spool replay [--dir DIR]
                              send events spooled while Kafka was unreachable
  meterline quota set --tenant T --limit N [--period month|day] [--metric total_tokens|prompt_tokens|
                      completion_tokens|<bucket>_tokens|requests|cost_pico_usd|charge_pico_usd] [--thresholds 50,80,100] [--hard] [--time-zone Z]
                      [--project P] [--model M] [--api-key-hash H] [--id ID]
  meterline quota list [--tenant T]
  meterline quota remove --tenant T --id ID
  meterline quota check --tenant T [--project P] [--model M]     (through the running fleet)
  meterline reconcile --tenant T --from ISO --to ISO [--json]
                              compare raw events with hourly rollups; lists every difference
  meterline prices unpriced --from ISO --to ISO [--json]
                              models with events no price book could price (counted, cost 0)
  meterline rerate --tenant T --from ISO --to ISO [--previous-prices DIR] [--report FILE.csv]
                              recompute cost and charge with the price files in force
                              (METERLINE_PRICING_DIR), bring the rollups to them and print the
                              diff (tenant, model, bucket, old, new); --previous-prices fills
                              the per-bucket old amounts
  meterline invoice run --period YYYY-MM [--tenant T]
                              close the month and invoice every tenant with usage or a minimum
                              commitment (or one), with a progress bar; months close in order
                              (earlier open months are closed first); works the invoice queue
                              in this process.
                              Exits 4 when invoices failed (each listed with its reason); run it
                              again after fixing the cause: failed jobs are retried, invoices
                              already stored are not changed (LOG_LEVEL=info shows its log)
  meterline invoice show --period YYYY-MM [--tenant T] [--json]
                              stored invoices (with --tenant and --period: its lines) and the
                              period's failed invoice jobs; --tenant alone: every period
  meterline invoice export --period YYYY-MM [--tenant T] --format json|csv|html [--out DIR]
                              write the stored invoices' documents to DIR/YYYY-MM (default
                              METERLINE_INVOICE_DIR), or one tenant's to stdout without --out
  meterline invoice regenerate --tenant T --period YYYY-MM
                              recompute a closed month's invoice from its raw events with the
                              prices and terms in force: a new revision (r2, ...) with a credit
                              note for what the earlier ones billed, or none when nothing changed
  (prices, rerate and invoice read ClickHouse directly: set CLICKHOUSE_URL, or stop the fleet
  first when it uses the embedded ClickHouse)
  meterline keys create --name NAME --scopes S1,S2 [--tenant T] [--expires ISO|DURATION] [--json]
  meterline keys list [--json] | keys revoke --id ID
                              API keys (scopes: admin, usage:read, events:write, quotas:read,
                              quotas:write, invoices:read; --tenant binds a key to one tenant);
                              the token is printed once, only its hash is stored
  meterline openapi [--out FILE]
                              the API's OpenAPI 3.1 document (as served at /openapi.json)
  meterline help

Configuration comes from the environment; see the README's configuration table.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(usageText);
    return 0;
  }
  let config: FleetConfig;
  try {
    config = parseConfig(fleetConfigSchema, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  const log = createLogger({ ...config.log, name: `meterline-${command}` });

  switch (command) {
    case 'start': {
      const { values } = parseArgs({ args: rest, options: { rate: { type: 'string', default: '200' }, 'no-traffic': { type: 'boolean', default: false }, 'data-dir': { type: 'string', default: '.data' }, 'clickhouse-port': { type: 'string', default: '8123' }, processes: { type: 'boolean', default: false } } });
      const rate = Number(values.rate);
      if (!Number.isFinite(rate) || rate < 0) throw new UsageError(`--rate must be a non-negative number, got "${values.rate}"`);
      // --data-dir holds everything the fleet keeps, unless a variable names another place.
      const dataDir = values['data-dir'];
      const inDataDir = (variable: string, configured: string, name: string): string => (process.env[variable] === undefined ? join(dataDir, name) : configured);
      const fleetConfig: FleetConfig = {
        ...config,
        clickhouse: { ...config.clickhouse, chdbPath: inDataDir('METERLINE_CHDB_PATH', config.clickhouse.chdbPath, 'chdb') },
        producer: { ...config.producer, spoolDir: inDataDir('METERLINE_SPOOL_DIR', config.producer.spoolDir, 'spool') },
        invoices: { ...config.invoices, dir: inDataDir('METERLINE_INVOICE_DIR', config.invoices.dir, 'invoices') },
      };
      await runFleet(fleetConfig, {
        trafficRate: values['no-traffic'] ? 0 : rate,
        localKafka: process.env.KAFKA_BROKERS === undefined,
        localRedis: process.env.REDIS_URL === undefined,
        clickhouseHttpPort: portOption('--clickhouse-port', values['clickhouse-port']),
        processes: values.processes,
        dataDir,
      }, log);
      return -1; // keeps running until a signal
    }
    case 'clickhouse': {
      const [sub, ...args] = rest;
      if (sub !== 'serve') throw new UsageError('clickhouse: the subcommand is `serve`');
      const { values } = parseArgs({ args, options: { port: { type: 'string', default: '8123' }, host: { type: 'string', default: '127.0.0.1' }, user: { type: 'string', multiple: true, default: [] } } });
      if (config.clickhouse.url !== undefined) throw new UsageError('clickhouse serve serves the embedded engine: unset CLICKHOUSE_URL');
      const server = await startClickHouseHttpServer({ chdbPath: config.clickhouse.chdbPath, host: values.host, port: portOption('--port', values.port), log, ...(values.user.length > 0 ? { users: values.user.map(userOption) } : {}) });
      log.info({ url: server.url, path: config.clickhouse.chdbPath }, `embedded ClickHouse served over HTTP: CLICKHOUSE_URL=${server.url}`);
      const stop = (): void => {
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return -1;
    }
    case 'migrate': {
      const handle = openClickHouse(config.clickhouse);
      try {
        const result = await migrate(handle, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
        console.log(`applied: ${result.applied.length === 0 ? 'none' : result.applied.join(', ')}; already applied: ${result.alreadyApplied.length}`);
      } finally {
        await handle.close();
      }
      return 0;
    }
    case 'usage': {
      const { values } = parseArgs({ args: rest, options: { tenant: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean', default: false } } });
      const totals = await readUsage(config, values.tenant, values.url);
      if (values.json) console.log(JSON.stringify(totals, null, 2));
      else printTotals(totals, values.tenant);
      return 0;
    }
    case 'spool': {
      const [sub, ...spoolArgs] = rest;
      if (sub !== 'replay') throw new UsageError(`unknown spool command "${sub ?? ''}": did you mean "spool replay"?`);
      const { values } = parseArgs({ args: spoolArgs, options: { dir: { type: 'string', default: config.producer.spoolDir } } });
      const meter = createMeter({ kafka: createKafka(config.kafka, log), topic: config.topics.usageEvents, spoolDir: values.dir, log, replayIntervalMs: 500 });
      await meter.close(); // close() replays the spool once and reports what remains
      const stats = meter.stats();
      console.log(`replayed ${stats.replayed} events from ${values.dir}${stats.kafkaReachable ? '' : ' (Kafka unreachable: events stay in the spool)'}`);
      return stats.kafkaReachable ? 0 : 1;
    }
    case 'quota':
      return quotaCommand(config, rest, log);
    case 'prices': {
      const [sub, ...args] = rest;
      if (sub !== 'unpriced') throw new UsageError('prices: the subcommand is `unpriced`');
      const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean', default: false } } });
      const [from, to] = timeRange(values.from, values.to);
      const handle = openClickHouse(config.clickhouse);
      try {
        const rows = await listUnpriced(handle, from, to);
        if (values.json) console.log(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) console.log('every event in the range was priced on both books');
        else for (const r of rows) console.log(`${r.provider}/${r.model}: ${r.unpriced_cost_events} events without a cost price, ${r.unpriced_charge_events} without a charge price, ${r.tenants} tenant(s)`);
        return rows.length === 0 ? 0 : 3;
      } finally {
        await handle.close();
      }
    }
    case 'rerate': {
      const { values } = parseArgs({ args: rest, options: { tenant: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, 'previous-prices': { type: 'string' }, report: { type: 'string' } } });
      if (values.tenant === undefined) throw new UsageError('rerate needs --tenant');
      const [from, to] = timeRange(values.from, values.to);
      const books = loadPriceBooks(config.pricing.dir);
      const previousBooks = values['previous-prices'] === undefined ? undefined : loadPriceBooks(values['previous-prices']);
      const handle = openClickHouse(config.clickhouse);
      try {
        await migrate(handle, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
        const result = await rerateUsage(handle, { tenant: values.tenant, from, to, books, ...(previousBooks ? { previousBooks } : {}) });
        const csv = rerateReportCsv(result.diffs);
        if (values.report !== undefined) writeFileSync(values.report, csv);
        process.stdout.write(csv);
        console.error(`re-rated ${result.events} events of ${values.tenant} with price books ${books.id}; ${result.rowsWritten} rollup rows written, ${result.rawRowsRepriced} raw rows repriced${values.report === undefined ? '' : `; report in ${values.report}`}`);
        return 0;
      } finally {
        await handle.close();
      }
    }
    case 'invoice':
      return invoiceCommand(config, rest, log, UsageError);
    case 'keys':
      return keysCommand(config, rest, log, UsageError);
    case 'openapi': {
      const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
      const text = `${JSON.stringify(await openApiDocument(), null, 2)}\n`;
      if (values.out === undefined) process.stdout.write(text);
      else writeFileSync(values.out, text);
      return 0;
    }
    case 'reconcile': {
      const { values } = parseArgs({ args: rest, options: { tenant: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean', default: false }, url: { type: 'string' } } });
      if (values.tenant === undefined || values.from === undefined || values.to === undefined) throw new UsageError('reconcile needs --tenant, --from and --to');
      const from = Date.parse(values.from);
      const to = Date.parse(values.to);
      if (Number.isNaN(from) || Number.isNaN(to) || from >= to) throw new UsageError(`--from and --to must be ISO times with from < to (got ${values.from}, ${values.to})`);
      const report = await viaFleetOr(config, values.url, `/v1/reconcile?tenant=${encodeURIComponent(values.tenant)}&from=${encodeURIComponent(values.from)}&to=${encodeURIComponent(values.to)}`, async () => {
        const handle = openClickHouse(config.clickhouse);
        try {
          return await reconcileUsage(handle, values.tenant as string, from, to);
        } finally {
          await handle.close();
        }
      });
      if (values.json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(`tenant ${report.tenant_id}, ${report.from} .. ${report.to}: ${report.groups} hourly groups, raw events ${report.raw_events}, rollup requests ${report.rollup_requests}`);
        if (report.differences.length === 0) console.log('raw events and rollups agree');
        for (const d of report.differences) console.log(`DIFF ${d.hour} ${d.project_id || '-'} ${d.provider}/${d.model} ${d.operation} ${d.measure}: raw ${d.raw}, rollups ${d.rollup}`);
      }
      return report.differences.length === 0 ? 0 : 3;
    }
    default: {
      const app = fleetApps.find((a) => a.name === command);
      if (app === undefined) throw new UsageError(`unknown command "${command}" (meterline help lists them)`);
      await runApp(app, config);
      return -1; // runs until a signal
    }
  }
}

class UsageError extends Error {}

/** The CLI's credential for a running API: METERLINE_API_KEY, else the local fleet's admin key file. */
function apiHeaders(config: FleetConfig): Record<string, string> {
  const file = join('.data', ADMIN_KEY_FILE);
  const key = config.cli.apiKey ?? (existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined);
  return key === undefined ? {} : { authorization: `Bearer ${key}` };
}

function portOption(flag: string, text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${flag} must be a port number 0-65535, got "${text}"`);
  return port;
}

function userOption(text: string): { name: string; password: string; readonly: boolean } {
  const [name, password, mode, ...extra] = text.split(':');
  if (name === undefined || name === '' || password === undefined || extra.length > 0 || (mode !== undefined && mode !== 'readonly')) {
    throw new UsageError(`--user takes NAME:PASSWORD or NAME:PASSWORD:readonly, got "${name ?? ''}:..."`);
  }
  return { name, password, readonly: mode === 'readonly' };
}

async function quotaCommand(config: FleetConfig, args: string[], log: Logger): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: {
      tenant: { type: 'string' }, id: { type: 'string' }, limit: { type: 'string' }, period: { type: 'string', default: 'month' },
      metric: { type: 'string', default: 'total_tokens' }, thresholds: { type: 'string' }, hard: { type: 'boolean', default: false },
      'time-zone': { type: 'string' }, project: { type: 'string' }, model: { type: 'string' }, 'api-key-hash': { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean', default: false },
    },
  });
  if (sub === 'check') {
    if (values.tenant === undefined) throw new UsageError('quota check needs --tenant');
    const query = new URLSearchParams(Object.entries({ project_id: values.project, model: values.model, api_key_hash: values['api-key-hash'] }).filter((e): e is [string, string] => e[1] !== undefined));
    const base = values.url ?? `http://${config.http.host}:${config.http.port}`;
    const response = await fetch(`${base}/v1/quotas/${encodeURIComponent(values.tenant)}/check?${query.toString()}`, { signal: AbortSignal.timeout(5_000), headers: apiHeaders(config) });
    console.log(await response.text());
    return response.status === 200 ? 0 : response.status === 429 ? 4 : 1;
  }
  const store = new QuotaStore(createKafka(config.kafka, log), config.topics.quotaDefinitions, log);
  try {
    if (sub === 'set') {
      if (values.tenant === undefined || values.limit === undefined) throw new UsageError('quota set needs --tenant and --limit');
      const scope = Object.fromEntries(Object.entries({ project_id: values.project, model: values.model, api_key_hash: values['api-key-hash'] }).filter(([, v]) => v !== undefined));
      const definition = await store.set({
        tenant_id: values.tenant,
        ...(values.id === undefined ? {} : { quota_id: values.id }),
        scope,
        metric: values.metric,
        period: values.period,
        ...(values['time-zone'] === undefined ? {} : { time_zone: values['time-zone'] }),
        limit: values.limit,
        ...(values.thresholds === undefined ? {} : { thresholds: values.thresholds.split(',').map(Number) }),
        enforcement: values.hard ? 'hard' : 'soft',
      });
      console.log(`quota ${definition.quota_id} set for ${definition.tenant_id}: ${definition.limit} ${definition.metric} per ${definition.period} (${definition.time_zone}), alerts at ${definition.thresholds.join('/')}%, ${definition.enforcement}`);
      return 0;
    }
    if (sub === 'list') {
      const definitions = await store.list(values.tenant);
      if (values.json) console.log(JSON.stringify(definitions, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
      else if (definitions.length === 0) console.log('no quotas defined');
      else for (const d of definitions) console.log(`${d.tenant_id}  ${d.quota_id}  ${d.limit} ${d.metric}/${d.period} ${d.time_zone}  alerts ${d.thresholds.join('/')}%  ${d.enforcement}  scope ${JSON.stringify(d.scope)}`);
      return 0;
    }
    if (sub === 'remove') {
      if (values.tenant === undefined || values.id === undefined) throw new UsageError('quota remove needs --tenant and --id');
      await store.remove(values.tenant, values.id);
      console.log(`quota ${values.id} removed for ${values.tenant}`);
      return 0;
    }
    throw new UsageError(`unknown quota command "${sub ?? ''}" (set, list, remove, check)`);
  } finally {
    await store.close();
  }
}

function timeRange(fromText: string | undefined, toText: string | undefined): [number, number] {
  if (fromText === undefined || toText === undefined) throw new UsageError('give --from and --to (ISO times, e.g. 2026-11-01T00:00:00Z)');
  const from = Date.parse(fromText);
  const to = Date.parse(toText);
  if (Number.isNaN(from) || Number.isNaN(to) || from >= to) throw new UsageError(`--from and --to must be ISO times with from < to (got ${fromText}, ${toText})`);
  return [from, to];
}

/** Through the running fleet's HTTP API; when none answers, `direct` (the embedded ClickHouse is free then). */
async function viaFleetOr<T>(config: FleetConfig, url: string | undefined, path: string, direct: () => Promise<T>): Promise<T> {
  const base = url ?? `http://${config.http.host}:${config.http.port}`;
  try {
    const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(60_000), headers: apiHeaders(config) });
    if (!response.ok) throw new Error(`${base} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as T;
  } catch (error) {
    if (url !== undefined) throw error;
    return direct();
  }
}

async function readUsage(config: FleetConfig, tenant: string | undefined, url: string | undefined): Promise<TenantUsage[]> {
  const base = url ?? `http://${config.http.host}:${config.http.port}`;
  const query = tenant === undefined ? '' : `?tenant=${encodeURIComponent(tenant)}`;
  try {
    const response = await fetch(`${base}/v1/usage${query}`, { signal: AbortSignal.timeout(5_000), headers: apiHeaders(config) });
    if (!response.ok) throw new Error(`${base} answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { data: TenantUsage[] }).data;
  } catch (error) {
    if (url !== undefined) throw error;
    // No fleet running: read ClickHouse directly (the embedded directory is free then).
    const handle = openClickHouse(config.clickhouse);
    try {
      return (await lifetimeUsage(handle, tenant)).map(tenantUsageToWire);
    } catch (direct) {
      throw new Error(`could not read usage through ${base} (${errorMessage(error)}) nor from ClickHouse (${errorMessage(direct)})`);
    } finally {
      await handle.close();
    }
  }
}

function printTotals(totals: TenantUsage[], tenant: string | undefined): void {
  if (totals.length === 0) {
    console.log(tenant === undefined ? 'no usage recorded yet' : `no usage recorded for tenant "${tenant}"`);
    return;
  }
  const columns = ['tenant', 'requests', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens', 'errors', 'cost_usd', 'charge_usd'] as const;
  const rows = [columns.map((c) => c.replace('_tokens', '')), ...totals.map((t) => columns.map((c) => t[c]))];
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const row of rows) console.log(row.map((cell, i) => String(cell).padStart(i === 0 ? 0 : (widths[i] ?? 0)).padEnd(i === 0 ? (widths[i] ?? 0) : 0)).join('  '));
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    console.error(`meterline: ${errorMessage(error)}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
