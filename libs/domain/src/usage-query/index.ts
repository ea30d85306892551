export { zoneFitsHours } from './time-zone';
