/** The input of an invoice computation is invalid. `field` names the offending input (`usage[3].quantity`). */
export class InvoiceInputError extends Error {
  readonly code = 'INVOICE_INPUT_INVALID';
  readonly field: string;

  constructor(field: string, message: string) {
    super(`invalid invoice input: ${field}: ${message}`);
    this.name = 'InvoiceInputError';
    this.field = field;
  }
}
