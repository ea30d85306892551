export { runFleet, type FleetOptions } from './fleet';
