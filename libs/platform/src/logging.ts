import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino censors. Raw API keys must never reach a log line: the shim hashes keys before
 * an event leaves the caller, and these paths catch a key passed anywhere else by mistake.
 */
export const redactedPaths = [
  'api_key', 'apiKey', 'password', 'authorization', 'pepper',
  '*.api_key', '*.apiKey', '*.password', '*.authorization', '*.pepper', '*.apiKeyPepper',
  'headers.authorization', 'req.headers.authorization', 'req.headers["x-api-key"]', 'headers["x-api-key"]',
];

export interface LoggerConfig {
  level: string;
  /** `pretty` for a terminal, `json` for machines; `auto` picks pretty when stdout is a TTY. */
  format: 'json' | 'pretty' | 'auto';
  name?: string;
}

export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: config.name === undefined ? { pid: process.pid } : { pid: process.pid, app: config.name },
    redact: { paths: redactedPaths, censor: '[redacted]' },
  };
  const pretty = config.format === 'pretty' || (config.format === 'auto' && process.stdout.isTTY);
  if (pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino(options);
}

/** A logger that drops everything: for library defaults and quiet tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
