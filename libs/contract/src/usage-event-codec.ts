import type { UsageEvent } from '@meterline/domain';
import { AvroCodec } from './codec';
import { SchemaRegistry } from './schema-registry';

export const USAGE_EVENT_RECORD = 'usage-event';

let shared: SchemaRegistry | undefined;

/** The registry of the repository's schemas/, loaded once per process. */
export function schemaRegistry(): SchemaRegistry {
  shared ??= SchemaRegistry.load();
  return shared;
}

export function usageEventCodec(registry: SchemaRegistry = schemaRegistry()): AvroCodec<UsageEvent> {
  return new AvroCodec<UsageEvent>(registry, USAGE_EVENT_RECORD);
}
