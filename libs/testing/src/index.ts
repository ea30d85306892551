// The test harness. Local infrastructure (Kafka, Redis, processes, traffic) comes from
// @meterline/local and is re-exported here so a test has one import.
export * from '@meterline/local';
export { uniqueName, uniqueIdentifier } from './names';
export { default as integrationGlobalSetup } from './global-setup';
export { UsageReference, type TenantReference } from './usage-reference';
export { waitFor } from './wait';
