import { MeterlineError } from '@meterline/domain';

// The family's base lives in the pure domain library, whose errors are members too.
export { MeterlineError };

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
