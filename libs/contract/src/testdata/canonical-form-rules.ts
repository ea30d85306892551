/**
 * How each library writes a primitive written as a JSON object, as read from its source (the
 * citations are beside each dialect in ../canonical-form.ts). `undefined`: the library's rule
 * for it was not read (or the library cannot parse it), so no variant is derived from it.
 * The python column is also checked against the real library (test/python-avro-interop.test.ts).
 */
export interface PrimitiveObjectRule {
  what: string;
  schema: Record<string, unknown>;
  forms: Readonly<Record<'canonical' | 'python-avro-1.11' | 'goavro-2' | 'hamba-avro-2' | 'csharp-avro-1.10', string | undefined>>;
}

export const PRIMITIVE_OBJECT_RULES: readonly PrimitiveObjectRule[] = [
  {
    what: 'timestamp-millis on a long (every schema of ours has it)',
    schema: { type: 'long', logicalType: 'timestamp-millis' },
    forms: { canonical: '"long"', 'python-avro-1.11': '{"type":"long"}', 'goavro-2': '{"type":"long"}', 'hamba-avro-2': '{"type":"long","logicalType":"timestamp-millis"}', 'csharp-avro-1.10': '"logical"' },
  },
  {
    what: 'date on an int',
    schema: { type: 'int', logicalType: 'date' },
    forms: { canonical: '"int"', 'python-avro-1.11': '{"type":"int"}', 'goavro-2': '{"type":"int"}', 'hamba-avro-2': '{"type":"int","logicalType":"date"}', 'csharp-avro-1.10': '"logical"' },
  },
  {
    what: 'uuid on a string (goavro has no uuid codec and deletes the attribute)',
    schema: { type: 'string', logicalType: 'uuid' },
    forms: { canonical: '"string"', 'python-avro-1.11': '{"type":"string"}', 'goavro-2': '"string"', 'hamba-avro-2': '{"type":"string","logicalType":"uuid"}', 'csharp-avro-1.10': '"logical"' },
  },
  {
    what: 'a logical type no library knows',
    schema: { type: 'long', logicalType: 'meterline-unknown' },
    forms: { canonical: '"long"', 'python-avro-1.11': '{"type":"long"}', 'goavro-2': '"long"', 'hamba-avro-2': '"long"', 'csharp-avro-1.10': undefined },
  },
  {
    what: 'decimal on bytes',
    schema: { type: 'bytes', logicalType: 'decimal', precision: 4, scale: 2 },
    forms: { canonical: '"bytes"', 'python-avro-1.11': '{"type":"bytes"}', 'goavro-2': '{"type":"bytes"}', 'hamba-avro-2': undefined, 'csharp-avro-1.10': '"logical"' },
  },
  {
    what: 'a custom attribute',
    schema: { type: 'string', 'avro.java.string': 'String' },
    forms: { canonical: '"string"', 'python-avro-1.11': '{"type":"string"}', 'goavro-2': '{"type":"string"}', 'hamba-avro-2': '"string"', 'csharp-avro-1.10': '"string"' },
  },
  {
    what: 'a doc (reserved in python, any second key in goavro)',
    schema: { type: 'long', doc: 'why' },
    forms: { canonical: '"long"', 'python-avro-1.11': '"long"', 'goavro-2': '{"type":"long"}', 'hamba-avro-2': '"long"', 'csharp-avro-1.10': '"long"' },
  },
  {
    what: 'the type alone',
    schema: { type: 'long' },
    forms: { canonical: '"long"', 'python-avro-1.11': '"long"', 'goavro-2': '"long"', 'hamba-avro-2': '"long"', 'csharp-avro-1.10': '"long"' },
  },
];
