import { MeterlineError } from '../errors';

/**
 * The input of an invoice computation is invalid. `field` names the offending input
 * (`usage[3].quantity`). Not retriable: the same input fails the same way.
 */
export class InvoiceInputError extends MeterlineError {
  readonly field: string;

  constructor(field: string, message: string, cause?: unknown) {
    super('INVOICE_INPUT_INVALID', `invalid invoice input: ${field}: ${message}`, { cause });
    this.field = field;
  }
}
