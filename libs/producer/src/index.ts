export { createMeter, BufferFullError, MeterClosedError, SpoolError, SpoolUnavailableError, type Meter, type MeterConfig, type MeterStats, type BufferFullPolicy } from './meter';
export { type UsageRecord, buildUsageEvent } from './usage-record';
export { hashApiKey } from './api-key';
export { uuidv7 } from './uuidv7';
export { Spool, encodeFrames, decodeFrames, type SpooledMessage } from './spool';
export * from './provider-usage';
