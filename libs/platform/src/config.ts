import type { z } from 'zod';
import { ConfigError } from './errors';

/**
 * Parses configuration once, at the edge of a process: every problem is collected (not just
 * the first) so an operator fixes them all in one go. Apps call `loadConfigOrExit`.
 */
export function parseConfig<S extends z.ZodType>(schema: S, source: Record<string, unknown>): z.infer<S> {
  const result = schema.safeParse(source);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    return `${where}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}

export function loadConfigOrExit<S extends z.ZodType>(schema: S, source: Record<string, unknown> = process.env): z.infer<S> {
  try {
    return parseConfig(schema, source);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/** Parses "500ms", "10s", "5m", "24h", "30d" or a bare number of milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^\s*(\d+)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
  return value * factor;
}
