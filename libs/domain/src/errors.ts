/**
 * One error family for the whole fleet (after KafkaJS): every error says whether retrying
 * can help (`retriable`) and keeps what caused it (`cause`). Retriers branch on `retriable`,
 * never on message text. Defined here, in the pure core, so the domain's own errors belong to
 * it; `@meterline/platform` re-exports it with the infrastructure subclasses.
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
