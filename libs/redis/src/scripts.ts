import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { luaTable } from './layout';

const scriptsDir = join(dirname(fileURLToPath(import.meta.url)), 'scripts');

export interface ScriptFile {
  /** The command name, e.g. `applyUsageBatch` from `apply-usage-batch-2.lua`. */
  command: string;
  /** KEYS count; undefined for `<command>-n.lua`, whose callers pass the count first. */
  numberOfKeys: number | undefined;
  /** The script as sent to Redis: `local LAYOUT = {...}` (the stream layout), then the file. */
  lua: string;
}

/**
 * Every `<command>-<numKeys>.lua` in scripts/ (BullMQ's convention: KEYS count in the name);
 * `<command>-n.lua` takes a count of keys that varies per call. Each gets the stream layout
 * (layout.ts) as `LAYOUT`, on the file's first line so Lua's line numbers stay the file's.
 */
export function loadScripts(dir: string = scriptsDir): ScriptFile[] {
  const prelude = `local LAYOUT = ${luaTable()} `;
  return readdirSync(dir)
    .filter((file) => file.endsWith('.lua'))
    .map((file) => {
      const match = /^([a-z0-9-]+)-(\d+|n)\.lua$/.exec(file);
      if (!match) throw new Error(`script file ${file} is not named <command>-<numKeys>.lua (or <command>-n.lua)`);
      const command = (match[1] as string).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
      return { command, numberOfKeys: match[2] === 'n' ? undefined : Number(match[2]), lua: prelude + readFileSync(join(dir, file), 'utf8') };
    });
}

export type ScriptedRedis = Redis & {
  /** KEYS then ARGV as one array (see apply-usage-batch-2.lua). */
  applyUsageBatch(keysAndArgs: (string | number | Buffer)[]): Promise<number[]>;
  /** The key count, then the counter keys (see read-quota-counters-n.lua). */
  readQuotaCounters(numberOfKeys: number, ...keys: string[]): Promise<(string | null)[]>;
  /** The lease key, its holder's token, the new TTL in ms: 1 renewed, 0 not held (see renew-lease-1.lua). */
  renewLease(key: string, token: string, ttlMs: number): Promise<number>;
  /** The lease key, its holder's token: 1 released, 0 not held (see release-lease-1.lua). */
  releaseLease(key: string, token: string): Promise<number>;
};

/** Registers the scripts on a client (EVALSHA with automatic fallback to EVAL). */
export function withScripts(redis: Redis): ScriptedRedis {
  for (const script of loadScripts()) {
    redis.defineCommand(script.command, script.numberOfKeys === undefined ? { lua: script.lua } : { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
  return redis as ScriptedRedis;
}
