export { runFleet, type FleetOptions } from './fleet';
export { invoiceCommand } from './invoice-command';
