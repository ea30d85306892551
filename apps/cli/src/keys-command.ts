import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { KeyStore, keysLastUsed } from '@meterline/access';
import { createKafka, accessTopics, ensureTopics } from '@meterline/kafka';
import { parseDurationMs, type FleetConfig, type Logger } from '@meterline/platform';

const help = `meterline keys create --name NAME --scopes S1,S2 [--tenant T] [--expires ISO|DURATION]
meterline keys list [--json]
meterline keys revoke --id ID`;

/**
 * API keys, straight on the `api-keys` topic (an operator's command: it needs Kafka, not a key).
 * The token is printed once; only its hash is stored.
 */
export async function keysCommand(config: FleetConfig, args: string[], log: Logger, usageError: new (message: string) => Error, clock: () => number = Date.now): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { name: { type: 'string' }, scopes: { type: 'string' }, tenant: { type: 'string' }, expires: { type: 'string' }, id: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const kafka = createKafka(config.kafka, log);
  await ensureTopics(kafka, accessTopics(config.topics), log);
  const store = new KeyStore(kafka, config.topics.apiKeys, config.access.pepper, log);
  try {
    if (sub === 'create') {
      if (values.name === undefined || values.scopes === undefined) throw new usageError(`keys create needs --name and --scopes\n${help}`);
      const expiresAt = values.expires === undefined ? undefined : expiryOf(values.expires, clock(), usageError);
      const { token, record } = await store.create({ name: values.name, scopes: values.scopes, tenantId: values.tenant, expiresAt });
      if (values.json) console.log(JSON.stringify({ id: record.id, token, scopes: record.scopes, tenant_id: record.tenant_id, expires_at: record.expires_at === null ? null : new Date(record.expires_at).toISOString() }));
      else console.log(`created key ${record.id} (${record.scopes.join(', ')}${record.tenant_id === null ? '' : `, tenant ${record.tenant_id}`}). Its token, shown only now:\n${token}`);
      return 0;
    }
    if (sub === 'list') return await listKeys(config, store, values.json);
    if (sub === 'revoke') {
      if (values.id === undefined) throw new usageError('keys revoke needs --id');
      if (!(await store.revoke(values.id))) {
        console.error(`no API key has the id ${values.id}`);
        return 1;
      }
      console.log(`key ${values.id} revoked`);
      return 0;
    }
    throw new usageError(`unknown keys command "${sub ?? ''}"\n${help}`);
  } finally {
    await store.close();
  }
}

async function listKeys(config: FleetConfig, store: KeyStore, json: boolean): Promise<number> {
  const records = await store.list();
  const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  let lastUsed = new Map<string, number>();
  try {
    await redis.connect();
    lastUsed = await keysLastUsed(redis, records.map((r) => r.id));
  } catch {
    // Redis unreachable: the list still shows the keys, without their last use.
  } finally {
    redis.disconnect();
  }
  const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
  const rows = records.map((r) => ({ id: r.id, name: r.name, scopes: r.scopes, tenant_id: r.tenant_id, created_at: iso(r.created_at), expires_at: iso(r.expires_at), revoked_at: iso(r.revoked_at), last_used_at: iso(lastUsed.get(r.id)) }));
  if (json) console.log(JSON.stringify(rows, null, 2));
  else if (rows.length === 0) console.log('no API keys');
  else for (const r of rows) console.log(`${r.id}  ${r.name}  ${r.scopes.join(',')}  ${r.tenant_id ?? '(all tenants)'}  created ${r.created_at ?? ''}${r.expires_at === null ? '' : `  expires ${r.expires_at}`}${r.revoked_at === null ? '' : `  REVOKED ${r.revoked_at}`}  last used ${r.last_used_at ?? 'never'}`);
  return 0;
}

function expiryOf(text: string, now: number, usageError: new (message: string) => Error): number {
  const duration = parseDurationMs(text);
  if (duration !== undefined) return now + duration;
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new usageError(`--expires takes an ISO time or a duration (90d, 12h), got "${text}"`);
  return at;
}
