import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { crc64Avro, fingerprintBytes } from './crc64-avro';

/** Single-object encoding marker (Avro spec): C3 01, then the 8-byte CRC-64-AVRO fingerprint. */
export const SINGLE_OBJECT_MAGIC = Buffer.from([0xc3, 0x01]);
export const SINGLE_OBJECT_HEADER_BYTES = 10;

export interface RegisteredSchema {
  /** Folder name under schemas/, e.g. `usage-event`. */
  record: string;
  version: number;
  file: string;
  type: avro.Type;
  fingerprint: bigint;
  /** Lowercase hex of the 8 fingerprint bytes as they appear on the wire. */
  fingerprintHex: string;
  /** The 10-byte single-object header for this writer schema. */
  header: Buffer;
}

/** `schemas/` at the repository root, found from this file's location. */
export function defaultSchemasDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../schemas');
}

/**
 * Every schema file under `schemas/<record>/v<N>.avsc`, keyed by record and by fingerprint,
 * so a reader can resolve any writer version it finds on the wire.
 */
export class SchemaRegistry {
  readonly #byRecord = new Map<string, RegisteredSchema[]>();
  readonly #byFingerprint = new Map<string, RegisteredSchema>();

  static load(dir: string = defaultSchemasDir()): SchemaRegistry {
    const registry = new SchemaRegistry();
    for (const record of readdirSync(dir)) {
      const recordDir = join(dir, record);
      if (!statSync(recordDir).isDirectory()) continue;
      for (const file of readdirSync(recordDir)) {
        const match = /^v(\d+)\.avsc$/.exec(file);
        if (!match) continue;
        registry.register(record, Number(match[1]), JSON.parse(readFileSync(join(recordDir, file), 'utf8')) as avro.Schema, join(recordDir, file));
      }
    }
    return registry;
  }

  register(record: string, version: number, schema: avro.Schema, file = `${record}/v${version}.avsc`): RegisteredSchema {
    const type = avro.Type.forSchema(schema);
    const canonical = JSON.stringify(type.schema());
    const fingerprint = crc64Avro(Buffer.from(canonical, 'utf8'));
    const fp = fingerprintBytes(fingerprint);
    const entry: RegisteredSchema = {
      record,
      version,
      file,
      type,
      fingerprint,
      fingerprintHex: fp.toString('hex'),
      header: Buffer.concat([SINGLE_OBJECT_MAGIC, fp]),
    };
    const existing = this.#byFingerprint.get(entry.fingerprintHex);
    if (existing && (existing.record !== record || existing.version !== version)) {
      throw new Error(`schema ${file} has the same canonical form as ${existing.file}: a new version must change the schema`);
    }
    const versions = this.#byRecord.get(record) ?? [];
    versions.push(entry);
    versions.sort((a, b) => a.version - b.version);
    this.#byRecord.set(record, versions);
    this.#byFingerprint.set(entry.fingerprintHex, entry);
    return entry;
  }

  latest(record: string): RegisteredSchema {
    const versions = this.#byRecord.get(record);
    const last = versions?.[versions.length - 1];
    if (!last) throw new Error(`no schema for record "${record}" (looked for schemas/${record}/v<N>.avsc)`);
    return last;
  }

  version(record: string, version: number): RegisteredSchema {
    const found = this.#byRecord.get(record)?.find((s) => s.version === version);
    if (!found) throw new Error(`no schema ${record} v${version}`);
    return found;
  }

  byFingerprintHex(hex: string): RegisteredSchema | undefined {
    return this.#byFingerprint.get(hex);
  }
}
