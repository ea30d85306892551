export { zoneFitsHours } from './time-zone';
export { wholeUtcDays, zoneIsUtc } from './day-span';
export { projectToPeriodEnd } from './period-projection';
