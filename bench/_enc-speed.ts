import { usageEventCodec, schemaRegistry } from '@meterline/contract';
import { usageGenerator } from '@meterline/testing';
const codec = usageEventCodec();
const type = schemaRegistry().latest('usage-event').type;
const next = usageGenerator({ seed: 5 });
const events = Array.from({ length: 100_000 }, () => ({ ...next(), api_key_hash: 'a'.repeat(64), event_id: '0192f3a1-7c4e-7b2a-9d1e-5f6a7b8c9d0e' }));
const scratch = Buffer.alloc(65536);
for (let r = 0; r < 5; r++) {
  let t = performance.now();
  for (const e of events) codec.encode(e);
  const fast = (performance.now() - t) * 10;
  t = performance.now();
  for (const e of events) type.encode(e, scratch, 10);
  const avsc = (performance.now() - t) * 10;
  console.log(`fast ${fast.toFixed(0)} ns/event, avsc (no copy) ${avsc.toFixed(0)} ns/event`);
}
