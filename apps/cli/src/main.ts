import { parseArgs } from 'node:util';
import { UsageEventsTable, migrate, openClickHouse, type TenantUsageTotals } from '@meterline/clickhouse';
import { createKafka } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { ConfigError, createLogger, errorMessage, fleetConfigSchema, parseConfig, type FleetConfig } from '@meterline/platform';
import { runFleet } from './fleet';

const usageText = `meterline: exactly-once metering of LLM usage

Usage:
  meterline start [--rate N] [--no-traffic] [--data-dir DIR]
                              run every app in one process with local Kafka, Redis and
                              embedded ClickHouse, plus N sample events/s (default 200)
  meterline migrate           apply ClickHouse migrations (safe to run twice)
  meterline usage [--tenant T] [--url URL] [--json]
                              live per-tenant totals (through the running fleet's HTTP API,
                              or straight from ClickHouse when no fleet runs)
  meterline spool replay [--dir DIR]
                              send events spooled while Kafka was unreachable
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
      const { values } = parseArgs({ args: rest, options: { rate: { type: 'string', default: '200' }, 'no-traffic': { type: 'boolean', default: false }, 'data-dir': { type: 'string', default: '.data' } } });
      const rate = Number(values.rate);
      if (!Number.isFinite(rate) || rate < 0) throw new UsageError(`--rate must be a non-negative number, got "${values.rate}"`);
      await runFleet(config, { trafficRate: values['no-traffic'] ? 0 : rate, localInfra: process.env.KAFKA_BROKERS === undefined, dataDir: values['data-dir'] }, log);
      return -1; // keeps running until a signal
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
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

async function readUsage(config: FleetConfig, tenant: string | undefined, url: string | undefined): Promise<TenantUsageTotals[]> {
  const base = url ?? `http://${config.http.host}:${config.http.port}`;
  const query = tenant === undefined ? '' : `?tenant=${encodeURIComponent(tenant)}`;
  try {
    const response = await fetch(`${base}/v1/usage${query}`, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`${base} answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { tenants: TenantUsageTotals[] }).tenants;
  } catch (error) {
    if (url !== undefined) throw error;
    // No fleet running: read ClickHouse directly (the embedded directory is free then).
    const handle = openClickHouse(config.clickhouse);
    try {
      return await new UsageEventsTable(handle).tenantTotals(tenant);
    } catch (direct) {
      throw new Error(`could not read usage through ${base} (${errorMessage(error)}) nor from ClickHouse (${errorMessage(direct)})`);
    } finally {
      await handle.close();
    }
  }
}

function printTotals(totals: TenantUsageTotals[], tenant: string | undefined): void {
  if (totals.length === 0) {
    console.log(tenant === undefined ? 'no usage recorded yet' : `no usage recorded for tenant "${tenant}"`);
    return;
  }
  const columns = ['tenant_id', 'events', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens', 'errors', 'last_event_at'] as const;
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
