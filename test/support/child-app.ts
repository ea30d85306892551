import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, spawnManaged, type ManagedProcess } from '@meterline/testing';

/** Runs one of the apps' main.ts as its own process, as an operator would, output to a file. */
export async function spawnApp(entry: string, args: readonly string[], env: Record<string, string>, name: string): Promise<ManagedProcess> {
  const logDir = mkdtempSync(join(tmpdir(), `meterline-${name}-`));
  // No health listener unless the test asks for one: several instances of an app share this machine.
  const childEnv: NodeJS.ProcessEnv = { ...process.env, METERLINE_LOG_FORMAT: 'json', LOG_LEVEL: 'info', METERLINE_HEALTH_PORT: '0', ...env };
  delete childEnv.NODE_OPTIONS; // vitest's worker options must not leak into the app
  // Only what the test passes configures the app (a developer's shell may set these).
  for (const name of ['KAFKA_BROKERS', 'REDIS_URL', 'CLICKHOUSE_URL']) if (!(name in env)) delete childEnv[name];
  // The same flags as the npm scripts (KafkaJS 2.2.4 sets negative timers on Node 24: harmless).
  return spawnManaged(process.execPath, ['--disable-warning=TimeoutNegativeWarning', '--import', 'tsx', join(repoRoot(), entry), ...args], {
    name,
    cwd: repoRoot(),
    env: childEnv,
    outputFile: join(logDir, `${name}.log`),
  });
}
