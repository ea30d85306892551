export { runFleet, type FleetOptions } from './fleet';
export { startSampleTraffic } from './sample-traffic';
