export { crc64Avro } from './crc64-avro';
export { SchemaRegistry, defaultSchemasDir, CANONICAL, SINGLE_OBJECT_MAGIC, SINGLE_OBJECT_HEADER_BYTES, type RegisteredSchema, type FingerprintVariant, type FingerprintMatch } from './schema-registry';
export { canonicalForm, FINGERPRINT_DIALECTS, SPEC_CANONICAL_FORM, type CanonicalFormDialect, type SchemaJson } from './canonical-form';
export { AvroCodec, DecodeError, type DecodeFailure, type DecodedMessage } from './codec';
export { usageEventCodec, usageRollupCodec, quotaAlertCodec, pricingAlertCodec, schemaRegistry, PRICING_ALERT_RECORD, USAGE_EVENT_RECORD, USAGE_ROLLUP_RECORD, QUOTA_ALERT_RECORD, type UsageRollupRecord, type QuotaAlertRecord, type PricingAlertRecord } from './usage-event-codec';
export { invoiceReadyCodec, invoiceAlertCodec, INVOICE_READY_RECORD, INVOICE_ALERT_RECORD, type InvoiceReadyRecord, type InvoiceAlertRecord } from './usage-event-codec';
export { InvalidEventError } from './invalid-event-error';
