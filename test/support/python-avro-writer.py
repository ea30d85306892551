"""A python-avro producer, as a Debian/python service would write events.

Reads a JSON request on stdin and answers JSON on stdout:
  {"schemas": [{"id", "text"}], "encode": [{"schema": id, "datums": [...]}]}
  -> {"version", "module", "schemas": {id: {"canonical", "fingerprint"}}, "encoded": [[hex, ...], ...]}

Everything is python-avro's own code: Schema.canonical_form, Schema.fingerprint("CRC-64-AVRO")
where the library has it (1.12+), DatumWriter + BinaryEncoder for the body. 1.11 has a
canonical form but no fingerprint function, so the CRC-64-AVRO of that form is computed here
with the specification's algorithm, exactly as python-avro 1.12 does it
(apache/avro lang/py/avro/schema.py _crc_64_fingerprint, little-endian bytes).
"""

import datetime
import io
import json
import sys
import warnings

import avro
import avro.errors
import avro.io
import avro.schema

# The rule table includes a logical type no library knows, on purpose.
warnings.filterwarnings("ignore", category=avro.errors.IgnoredLogicalType)

EMPTY64 = 0xC15D213AA4D7A795
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def crc64_avro(data):
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY64 & -(fp & 1))
        table.append(fp)
    result = EMPTY64
    for b in data:
        result = (result >> 8) ^ table[(result ^ b) & 0xFF]
    return result.to_bytes(length=8, byteorder="little", signed=False)


def fingerprint(schema):
    if hasattr(schema, "fingerprint"):
        return schema.fingerprint("CRC-64-AVRO")
    return crc64_avro(schema.canonical_form.encode("utf-8"))


def to_python(schema, value):
    """JSON values to what python-avro's writer expects (a datetime for timestamp-millis)."""
    if isinstance(schema, avro.schema.TimestampMillisSchema):
        return EPOCH + datetime.timedelta(milliseconds=value)
    if isinstance(schema, avro.schema.RecordSchema):
        return {f.name: to_python(f.type, value[f.name]) for f in schema.fields if f.name in value}
    if isinstance(schema, avro.schema.UnionSchema):
        if value is None:
            return None
        branches = [b for b in schema.schemas if b.type != "null"]
        return to_python(branches[0], value) if len(branches) == 1 else value
    if isinstance(schema, avro.schema.MapSchema):
        return {k: to_python(schema.values, v) for k, v in value.items()}
    if isinstance(schema, avro.schema.ArraySchema):
        return [to_python(schema.items, v) for v in value]
    return value


def encode(schema, header, datum):
    buffer = io.BytesIO()
    buffer.write(header)
    avro.io.DatumWriter(schema).write(to_python(schema, datum), avro.io.BinaryEncoder(buffer))
    return buffer.getvalue().hex()


def main():
    request = json.load(sys.stdin)
    parsed = {s["id"]: avro.schema.parse(s["text"]) for s in request["schemas"]}
    headers = {id: b"\xc3\x01" + fingerprint(schema) for id, schema in parsed.items()}
    answer = {
        "version": avro.__version__,
        "module": avro.__file__,
        "schemas": {id: {"canonical": schema.canonical_form, "fingerprint": fingerprint(schema).hex()} for id, schema in parsed.items()},
        "encoded": [[encode(parsed[job["schema"]], headers[job["schema"]], d) for d in job["datums"]] for job in request.get("encode", [])],
    }
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
