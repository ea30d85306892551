/**
 * One error family for the whole fleet (after KafkaJS): every error says whether retrying
 * can help (`retriable`) and keeps what caused it (`cause`). Retriers branch on `retriable`,
 * never on message text.
 */
export class MeterlineError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A dependency (Kafka, ClickHouse, Redis) failed in a way that may pass: retry with backoff. */
export class InfrastructureError extends MeterlineError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retriable: true, cause });
  }
}

/** Retrying cannot help; the job or message must fail (BullMQ's UnrecoverableError idea). */
export class UnrecoverableError extends MeterlineError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
  }
}

/** Configuration is invalid: every problem is listed, the process exits 1. */
export class ConfigError extends MeterlineError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export function isRetriable(error: unknown): boolean {
  if (error instanceof MeterlineError) return error.retriable;
  // KafkaJS errors carry the same flag; honour it without importing kafkajs here.
  if (typeof error === 'object' && error !== null && 'retriable' in error) {
    return error.retriable === true;
  }
  return false;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
