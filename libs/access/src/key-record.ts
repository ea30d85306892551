import { parseScopes, type Scope } from '@meterline/domain';

/**
 * An API key as stored in the compacted `api-keys` topic (key: the key id). Only the HMAC of
 * the secret is kept. Revoking rewrites the record with `revoked_at`, so a list still shows it.
 */
export interface ApiKeyRecord {
  id: string;
  name: string;
  secret_hash: string;
  scopes: Scope[];
  tenant_id: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

export function encodeKeyRecord(record: ApiKeyRecord): string {
  return JSON.stringify(record);
}

export function decodeKeyRecord(value: Buffer | string): ApiKeyRecord {
  const raw = JSON.parse(value.toString()) as ApiKeyRecord;
  return { ...raw, scopes: parseScopes(raw.scopes) };
}
