import { usageEventCodec } from '@meterline/contract';
import { usageGenerator } from '@meterline/testing';
const codec = usageEventCodec();
const next = usageGenerator({ seed: 5 });
const events = Array.from({ length: 100_000 }, () => ({ ...next(), api_key_hash: 'a'.repeat(64), event_id: '0192f3a1-7c4e-7b2a-9d1e-5f6a7b8c9d0e' }));
const flat = events.map((e) => JSON.parse(JSON.stringify(e)) as typeof e);
const one = Array.from({ length: 100_000 }, () => flat[0]!);
for (let r = 0; r < 4; r++) {
  for (const [name, list] of [['generated', events], ['json-roundtrip', flat], ['same object', one]] as const) {
    const t = performance.now();
    for (const e of list) codec.encode(e);
    console.log(name, (((performance.now() - t) * 1e6) / list.length).toFixed(0), 'ns/event');
  }
}
