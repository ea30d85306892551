/**
 * Parsing Canonical Form (Avro specification, "Transforming into Parsing Canonical Form") of a
 * schema as written in its .avsc file, and the forms some libraries write instead. A writer
 * puts the CRC-64-AVRO of the form ITS library computes into the single-object header, so a
 * reader that knows only the spec's form dead-letters every event of such a writer.
 *
 * One traversal applies the spec's rules ([PRIMITIVES], [FULLNAMES], [STRIP], [ORDER],
 * [INTEGERS], [WHITESPACE]); a dialect differs only where its library does, at a primitive
 * written as an object (`{"type":"long","logicalType":"timestamp-millis"}`), which is where
 * every known deviation lies. Where a dialect's rules for a construct were not read from its
 * source, the form is `undefined` (no variant is registered rather than a guessed one).
 */

export type SchemaJson = string | readonly SchemaJson[] | { readonly [key: string]: unknown };

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

export interface CanonicalFormDialect {
  /** Short label, used in logs and metrics: `python-avro-1.11`. */
  readonly name: string;
  /** The libraries and versions that write this form. */
  readonly writers: string;
  /** Where the rule was read (repository, path, function). */
  readonly source: string;
  /**
   * The form of a primitive written as a JSON object: `type` is the primitive, `attributes`
   * every other key of the object. `undefined` when the library's rule for it is not known.
   */
  primitiveObject(type: string, attributes: Readonly<Record<string, unknown>>): string | undefined;
  /** A named type (fixed) that carries a `logicalType`: true when the library writes the spec's form. */
  readonly namedLogicalTypeAsSpec: boolean;
}

const quoted = (s: string): string => JSON.stringify(s);
/** An attribute's value as text (a logicalType is a string in any schema these libraries parse). */
const text = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** The specification's rules: a primitive is its name, whatever attributes it carries. */
export const SPEC_CANONICAL_FORM: CanonicalFormDialect = {
  name: 'canonical',
  writers: 'the Avro specification; Java (SchemaNormalization), fastavro, avsc, Apache Avro C# from 1.11.2',
  source: 'avro.apache.org specification, "Parsing Canonical Form for Schemas"',
  primitiveObject: (type) => quoted(type),
  namedLogicalTypeAsSpec: true,
};

// apache/avro lang/py/avro/schema.py (release-1.11.0 .. release-1.12.1, same at main):
// PrimitiveSchema.to_canonical_json returns `self.fullname if len(self.props) == 1 else
// self.canonical_properties`. props hold `type` plus every key not in SCHEMA_RESERVED_PROPS
// (type, name, namespace, fields, items, size, symbols, values, doc), so `logicalType` or any
// custom attribute makes it the object of CANONICAL_FIELD_ORDER keys: `{"type":"long"}`.
// Named types go through canonical_properties too (spec form). 1.10 has no canonical form or
// fingerprint at all; 1.12 added Schema.fingerprint("CRC-64-AVRO") over this same form.
const PYTHON_RESERVED = new Set(['type', 'name', 'namespace', 'fields', 'items', 'size', 'symbols', 'values', 'doc']);
const PYTHON_AVRO: CanonicalFormDialect = {
  name: 'python-avro-1.11',
  writers: 'Apache Avro for Python 1.11.0 to 1.12.x (Debian bookworm python3-avro 1.11.1)',
  source: 'apache/avro lang/py/avro/schema.py PrimitiveSchema.to_canonical_json, CanonicalPropertiesMixin',
  primitiveObject: (type, attributes) => (Object.keys(attributes).some((key) => !PYTHON_RESERVED.has(key)) ? `{"type":${quoted(type)}}` : quoted(type)),
  namedLogicalTypeAsSpec: true,
};

// linkedin/goavro canonical.go pcfObject: `{"type":X}` is reduced to "X" only when `type` is
// the object's ONLY key; the other keys are then stripped (fieldOrder), leaving
// `{"type":"long"}`. codec.go NewCodecFrom computes it from the schema JSON after buildCodec,
// which deletes `logicalType` only for logical types it has no codec for
// (buildCodecForTypeDescribedByString); codec.go writes the single-object header (v2.9.0+).
const GOAVRO_LOGICAL_TYPES = new Set(['long.timestamp-millis', 'long.timestamp-micros', 'int.time-millis', 'long.time-micros', 'int.date', 'bytes.decimal', 'string.validated-string']);
const GOAVRO: CanonicalFormDialect = {
  name: 'goavro-2',
  writers: 'linkedin/goavro v2.9.0+ (Codec.SingleFromNative)',
  source: 'linkedin/goavro canonical.go pcfObject; codec.go NewCodecFrom, buildCodecForTypeDescribedByString',
  primitiveObject: (type, attributes) => {
    const kept = Object.keys(attributes).filter((key) => key !== 'logicalType' || GOAVRO_LOGICAL_TYPES.has(`${type}.${text(attributes[key])}`));
    return kept.length > 0 ? `{"type":${quoted(type)}}` : quoted(type);
  },
  namedLogicalTypeAsSpec: true,
};

// hamba/avro schema.go PrimitiveSchema.String() (the form its fingerprints hash):
// `{"type":"long","logicalType":"timestamp-millis"}` for a logical type it recognises
// (schema_parse.go parsePrimitiveLogicalType), the bare name otherwise. soe/soe.go (v2.31.0)
// builds the single-object header from FingerprintUsing(CRC64AvroLE) over it. Decimal (extra
// precision/scale) and fixed logical types (FixedSchema.String) are not modelled here.
const HAMBA_LOGICAL_TYPES = new Set(['string.uuid', 'int.date', 'int.time-millis', 'long.time-micros', 'long.timestamp-millis', 'long.timestamp-micros', 'long.local-timestamp-millis', 'long.local-timestamp-micros']);
const HAMBA_AVRO: CanonicalFormDialect = {
  name: 'hamba-avro-2',
  writers: 'hamba/avro v2 (soe package, FingerprintUsing(CRC64AvroLE)); apache-avro for Rust 0.14 to 0.16 writes the same form for records without nested named types',
  source: 'hamba/avro schema.go PrimitiveSchema.String, PrimitiveLogicalSchema.String; schema_parse.go parsePrimitiveLogicalType; soe/soe.go',
  primitiveObject: (type, attributes) => {
    const logical = attributes.logicalType;
    if (logical === undefined) return quoted(type);
    if (type === 'bytes' && logical === 'decimal') return undefined;
    return HAMBA_LOGICAL_TYPES.has(`${type}.${text(logical)}`) ? `{"type":${quoted(type)},"logicalType":${quoted(text(logical))}}` : quoted(type);
  },
  namedLogicalTypeAsSpec: false,
};

// apache/avro lang/csharp/src/apache/main/Schema/SchemaNormalization.cs Build: the default
// case writes `s.Name`. Before AVRO-3001 (bc5d76e478, released in 1.11.2) LogicalSchema had no
// Name override, so it was UnnamedSchema.Name = Tag.ToString().ToLower() = "logical": every
// primitive with a logicalType (Schema.ParseJson makes it a LogicalSchema) became `"logical"`.
// ParsingFingerprint64 hashes that form. A logical type missing from its LogicalTypeFactory
// fails to parse there, so it has no form.
const CSHARP_LOGICAL_TYPES = new Set(['decimal', 'date', 'time-millis', 'time-micros', 'timestamp-millis', 'timestamp-micros', 'local-timestamp-millis', 'local-timestamp-micros', 'uuid']);
const CSHARP_AVRO: CanonicalFormDialect = {
  name: 'csharp-avro-1.10',
  writers: 'Apache Avro for C# 1.10.0 to 1.11.1 (SchemaNormalization.ParsingFingerprint64)',
  source: 'apache/avro lang/csharp/src/apache/main/Schema/SchemaNormalization.cs Build, LogicalSchema.cs, UnnamedSchema.cs, Util/LogicalTypeFactory.cs (release-1.11.1)',
  primitiveObject: (type, attributes) => {
    const logical = attributes.logicalType;
    if (logical === undefined) return quoted(type);
    return CSHARP_LOGICAL_TYPES.has(text(logical)) ? '"logical"' : undefined;
  },
  namedLogicalTypeAsSpec: false,
};

/**
 * The non-canonical forms real libraries write into single-object headers (fingerprint
 * variants). Researched and left out because they write the spec's form: Apache Avro Java
 * (SchemaNormalization), fastavro (to_parsing_canonical_form), avsc (Type#schema()), Apache
 * Avro C# from 1.11.2. Apache Avro Python 1.10 has no canonical form or fingerprint. Confluent's
 * serializers do not use single-object encoding (magic 0 + a registry id).
 */
export const FINGERPRINT_DIALECTS: readonly CanonicalFormDialect[] = [PYTHON_AVRO, GOAVRO, HAMBA_AVRO, CSHARP_AVRO];

/** Thrown inside the traversal when a dialect's rule for a construct is unknown. */
class NotModelled extends Error {}

interface Walk {
  dialect: CanonicalFormDialect;
  /** Fullnames already written: a later occurrence is written as the name ([FULLNAMES]). */
  defined: Set<string>;
}

function fullname(name: string, namespace: string): string {
  return name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
}

function namespaceOf(full: string): string {
  const dot = full.lastIndexOf('.');
  return dot === -1 ? '' : full.slice(0, dot);
}

function walk(schema: unknown, namespace: string, w: Walk): string {
  if (typeof schema === 'string') return PRIMITIVES.has(schema) ? quoted(schema) : quoted(fullname(schema, namespace));
  if (Array.isArray(schema)) return `[${schema.map((branch) => walk(branch, namespace, w)).join(',')}]`;
  if (schema === null || typeof schema !== 'object') throw new Error(`not a schema: ${JSON.stringify(schema)}`);
  const node = schema as Record<string, unknown>;
  const type = node.type;
  if (typeof type !== 'string') {
    if (type !== undefined && Object.keys(node).length === 1) return walk(type, namespace, w);
    throw new NotModelled(`a schema object whose type is ${JSON.stringify(type)}`);
  }
  if (PRIMITIVES.has(type)) {
    const { type: _type, ...attributes } = node;
    const form = w.dialect.primitiveObject(type, attributes);
    if (form === undefined) throw new NotModelled(`${JSON.stringify(node)} in ${w.dialect.name}`);
    return form;
  }
  switch (type) {
    case 'array':
      return `{"type":"array","items":${walk(node.items, namespace, w)}}`;
    case 'map':
      return `{"type":"map","values":${walk(node.values, namespace, w)}}`;
    case 'record':
    case 'enum':
    case 'fixed':
      return named(node, type, namespace, w);
    default:
      // `{"type":"dev.meterline.Kind"}`: a reference to a named type.
      if (Object.keys(node).length === 1) return walk(type, namespace, w);
      throw new NotModelled(`type ${type}`);
  }
}

function named(node: Record<string, unknown>, type: 'record' | 'enum' | 'fixed', namespace: string, w: Walk): string {
  if (node.logicalType !== undefined && !w.dialect.namedLogicalTypeAsSpec) throw new NotModelled(`a ${type} with a logicalType in ${w.dialect.name}`);
  const full = fullname(String(node.name), typeof node.namespace === 'string' ? node.namespace : namespace);
  if (w.defined.has(full)) return quoted(full);
  w.defined.add(full);
  const head = `{"name":${quoted(full)},"type":${quoted(type)}`;
  if (type === 'enum') return `${head},"symbols":[${(node.symbols as string[]).map(quoted).join(',')}]}`;
  if (type === 'fixed') return `${head},"size":${Number(node.size)}}`;
  const inner = namespaceOf(full);
  const fields = (node.fields as { name: string; type: unknown }[]).map((field) => `{"name":${quoted(field.name)},"type":${walk(field.type, inner, w)}}`);
  return `${head},"fields":[${fields.join(',')}]}`;
}

/**
 * The form `dialect` writes for `schema` (the parsed .avsc JSON), or undefined when the
 * schema uses a construct whose rule in that library was not read.
 */
export function canonicalForm(schema: SchemaJson, dialect: CanonicalFormDialect = SPEC_CANONICAL_FORM): string | undefined {
  try {
    return walk(schema, '', { dialect, defined: new Set() });
  } catch (error) {
    if (error instanceof NotModelled) return undefined;
    throw error;
  }
}
