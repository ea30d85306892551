import { MeterlineError } from '@meterline/platform';

/**
 * A provider's usage object is missing a count, has a count that is not a non-negative integer,
 * contradicts itself (more cached tokens than prompt tokens, buckets that do not add up to the
 * reported total), carries a count in a field the adapter does not know, cannot be split without
 * guessing, or is a partial count. Retrying cannot help: the payload is wrong, or our reading of it is.
 */
export class UsageAdapterError extends MeterlineError {
  /** Which adapter: `openai.chat_completions`, `openai.responses`, `openai.embeddings`, `anthropic`, `gemini`, `otel.gen_ai`. */
  readonly provider: string;
  /** The field at fault, as the provider names it (`prompt_tokens_details.cached_tokens`). */
  readonly field: string;
  /**
   * Stable rule name: `required`, `non_negative_integer`, `cached_exceeds_prompt`, `total_mismatch`,
   * `unknown_field` (a count in a field the adapter does not know), `cached_modality_unknown`,
   * `modality_mismatch`, `partial_usage` (an Anthropic `message_start` count), ...
   */
  readonly rule: string;

  constructor(provider: string, field: string, rule: string, detail: string) {
    super('USAGE_INVALID', `${provider} usage: ${field}: ${detail} [${rule}]`, { retriable: false });
    this.provider = provider;
    this.field = field;
    this.rule = rule;
  }
}
