import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { FINGERPRINT_DIALECTS, canonicalForm, type SchemaJson } from './canonical-form';
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
  /** Fingerprints of the non-canonical forms libraries write for this schema (see canonical-form.ts). */
  variants: readonly FingerprintVariant[];
}

/** A form other than the Parsing Canonical Form that some libraries fingerprint for a schema. */
export interface FingerprintVariant {
  /** The dialects that write this form, joined by `|` when several write the same: `python-avro-1.11|goavro-2`. */
  name: string;
  form: string;
  fingerprint: bigint;
  fingerprintHex: string;
}

/** What a fingerprint on the wire names: a schema, and `canonical` or the variant's name. */
export interface FingerprintMatch {
  schema: RegisteredSchema;
  form: string;
}

export const CANONICAL = 'canonical';

function fingerprintHexOf(form: string): { fingerprint: bigint; fingerprintHex: string } {
  const fingerprint = crc64Avro(Buffer.from(form, 'utf8'));
  return { fingerprint, fingerprintHex: fingerprintBytes(fingerprint).toString('hex') };
}

/** Every dialect's form of `schema` that differs from `canonical`, dialects writing the same form grouped. */
function variantsOf(schema: SchemaJson, canonical: string): FingerprintVariant[] {
  const byForm = new Map<string, string[]>();
  for (const dialect of FINGERPRINT_DIALECTS) {
    const form = canonicalForm(schema, dialect);
    if (form === undefined || form === canonical) continue;
    byForm.set(form, [...(byForm.get(form) ?? []), dialect.name]);
  }
  return [...byForm].map(([form, names]) => ({ name: names.join('|'), form, ...fingerprintHexOf(form) }));
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
  readonly #byFingerprint = new Map<string, FingerprintMatch>();

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
    const { fingerprint, fingerprintHex } = fingerprintHexOf(canonical);
    const entry: RegisteredSchema = {
      record,
      version,
      file,
      type,
      fingerprint,
      fingerprintHex,
      header: Buffer.concat([SINGLE_OBJECT_MAGIC, Buffer.from(fingerprintHex, 'hex')]),
      variants: variantsOf(schema as SchemaJson, canonical),
    };
    const forms = [{ hex: fingerprintHex, form: CANONICAL }, ...entry.variants.map((v) => ({ hex: v.fingerprintHex, form: v.name }))];
    for (const { hex, form } of forms) {
      const existing = this.#byFingerprint.get(hex)?.schema;
      if (existing && (existing.record !== record || existing.version !== version)) {
        throw new Error(`schema ${file} has the same ${form} form as ${existing.file}: a new version must change the schema`);
      }
    }
    const versions = this.#byRecord.get(record) ?? [];
    versions.push(entry);
    versions.sort((a, b) => a.version - b.version);
    this.#byRecord.set(record, versions);
    for (const { hex, form } of forms) this.#byFingerprint.set(hex, { schema: entry, form });
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

  /** The schema whose canonical form or a library variant of it has this fingerprint (hex of the 8 wire bytes). */
  byFingerprintHex(hex: string): FingerprintMatch | undefined {
    return this.#byFingerprint.get(hex);
  }

  /** Every registered schema, by record then version. */
  all(): RegisteredSchema[] {
    return [...this.#byRecord.values()].flat();
  }
}
