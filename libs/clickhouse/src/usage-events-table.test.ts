import { describe, expect, it } from 'vitest';
import { usageEventV2Defaults } from '@meterline/domain';
import type { UsageEventRow } from './usage-events-table';
import { usageEventsInsertBody } from './usage-events-table';

const row: UsageEventRow = {
  ...usageEventV2Defaults(),
  event_id: 'e-1', occurred_at: 1_790_000_000_000, tenant_id: 'acme', project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
  provider: 'openai', model: 'gpt-4o', operation: 'chat', input_tokens: 10, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 5, reasoning_tokens: 0,
  latency_ms: null, ttft_ms: null, status_code: 200, error_type: null, metadata: {}, source_partition: 2, source_offset: '18446744073709551614',
};

const lines = (body: Buffer): unknown[][] => body.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown[]);

describe('usageEventsInsertBody', () => {
  it.each([
    {
      name: 'text forms go to the *_input columns; an unpriced row stores 0 and no versions',
      rows: [row],
      columns: ['event_id_input', 'occurred_at', 'tenant_id', 'provider', 'model', 'operation', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'latency_ms', 'ttft_ms', 'status_code', 'error_type', 'source_partition', 'source_offset_input', 'cost_pico_input', 'charge_pico_input', 'cost_price_version', 'charge_price_version_input'],
      money: [['0', '0', '', '']],
    },
    {
      name: 'a priced row: amounts as exact decimal strings (past 2^64 too), an unpriced side as an empty version; a key hash as its input column',
      rows: [{ ...row, api_key_hash: 'ab'.repeat(32), cost_pico: 12_345_678_901_234_567_890_123n, charge_pico: -7n, cost_price_version: 'openai/gpt-4o@2024-08-06', charge_price_version: null }],
      columns: ['event_id_input', 'occurred_at', 'tenant_id', 'api_key_hash_input', 'provider', 'model', 'operation', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'latency_ms', 'ttft_ms', 'status_code', 'error_type', 'source_partition', 'source_offset_input', 'cost_pico_input', 'charge_pico_input', 'cost_price_version', 'charge_price_version_input'],
      money: [['12345678901234567890123', '-7', 'openai/gpt-4o@2024-08-06', '']],
    },
    {
      name: 'a v2 row: the tier with the nullable strings, units only when a row has some, latency as a microsecond decimal',
      rows: [{ ...row, cache_write_1h_tokens: 7, audio_input_tokens: 3, units: { web_search: 2 }, service_tier: 'priority', latency_ms: 1_834.2716, ttft_ms: 0.0004 }],
      columns: ['event_id_input', 'occurred_at', 'tenant_id', 'service_tier', 'provider', 'model', 'operation', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'units', 'latency_ms', 'ttft_ms', 'status_code', 'error_type', 'source_partition', 'source_offset_input', 'cost_pico_input', 'charge_pico_input', 'cost_price_version', 'charge_price_version_input'],
      money: [['0', '0', '', '']],
    },
  ])('$name', ({ rows, columns, money }) => {
    const { columns: written, body } = usageEventsInsertBody(rows);
    expect(written).toEqual(columns);
    expect(lines(body).map((values) => values.slice(-4))).toEqual(money);
    expect(lines(body)[0]?.[written.indexOf('source_offset_input')]).toBe('18446744073709551614');
    if (written.includes('units')) {
      expect(lines(body)[0]?.slice(written.indexOf('units'), written.indexOf('units') + 3)).toEqual([{ web_search: 2 }, '1834.272', '0.000']);
    }
  });
});
