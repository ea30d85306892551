import { describeViolations, type Violation } from '@meterline/domain';
import { MeterlineError } from '@meterline/platform';

/** An event broke the contract. Lists every field and rule; never retriable. */
export class InvalidEventError extends MeterlineError {
  readonly violations: readonly Violation[];
  constructor(violations: readonly Violation[], context = 'usage event') {
    super('EVENT_INVALID', `invalid ${context}: ${describeViolations(violations)}`, { retriable: false });
    this.violations = violations;
  }
}
