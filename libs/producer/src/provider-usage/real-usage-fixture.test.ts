import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

// Checks the shape of the real-usage fixture only; the adapters are tested against it elsewhere.
const fixtureFile = new URL('./fixtures/real-usage.json', import.meta.url);

const count = z.number().int().nonnegative();

/** Every pair the fixture must cover (issue 15: one or more real objects per provider API). */
const REQUIRED_APIS = [
  'openai/chat',
  'openai/responses',
  'openai/embeddings',
  'anthropic/messages',
  'anthropic/messages-stream-start',
  'anthropic/messages-stream-delta',
  'gemini/generateContent',
  'gemini/live',
  'otel/otel-span',
] as const;

const semantic = z.strictObject({
  id: z.string().min(1),
  applies_to: z.string().min(1),
  statement: z.string().min(1),
  url: z.url(),
});

/** Either a file in a public repository at a commit, or a page; always with where in it to look. */
const source = z
  .strictObject({
    repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/).optional(),
    path: z.string().min(1).optional(),
    commit: z.string().regex(/^[0-9a-f]{40}$/).optional(),
    url: z.url(),
    locator: z.string().min(1),
    note: z.string().min(1).optional(),
  })
  .refine((s) => (s.repo === undefined) === (s.path === undefined) && (s.repo === undefined) === (s.commit === undefined), {
    message: 'a repository source names repo, path and commit together',
  });

const expected = z.strictObject({
  input_tokens: count,
  cache_read_tokens: count,
  cache_write_5m_tokens: count,
  cache_write_1h_tokens: count,
  output_tokens: count,
  reasoning_tokens: count,
  audio_input_tokens: count,
  audio_output_tokens: count,
  image_input_tokens: count,
  image_output_tokens: count,
  requests_by_unit: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), count.positive()),
  service_tier: z.string().min(1).nullable(),
  partial: z.boolean(),
});

const usageObject = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
  provider: z.enum(['openai', 'anthropic', 'gemini', 'otel']),
  api: z.enum(['chat', 'responses', 'messages', 'messages-stream-start', 'messages-stream-delta', 'generateContent', 'live', 'otel-span', 'embeddings']),
  source,
  model: z.string().min(1).nullable(),
  usage: z.record(z.string(), z.unknown()).refine((u) => Object.keys(u).length > 0, { message: 'usage must not be empty' }),
  response_context: z.record(z.string(), z.unknown()).optional(),
  expected,
  reasoning: z.string().min(1),
});

const fixture = z.strictObject({
  description: z.string().min(1),
  semantics: z.array(semantic).min(1),
  objects: z.array(usageObject).min(30),
});

type Fixture = z.infer<typeof fixture>;

function load(): Fixture {
  return fixture.parse(JSON.parse(readFileSync(fixtureFile, 'utf8')));
}

describe('real provider usage fixture', () => {
  it('matches the schema: every object has a source, a reasoning and non-negative integer buckets; at least 30 objects', () => {
    const result = fixture.safeParse(JSON.parse(readFileSync(fixtureFile, 'utf8')));
    expect(result.success ? [] : z.prettifyError(result.error)).toEqual([]);
  });

  it('has unique object ids and unique semantics ids', () => {
    const { objects, semantics } = load();
    expect(new Set(objects.map((o) => o.id)).size).toBe(objects.length);
    expect(new Set(semantics.map((s) => s.id)).size).toBe(semantics.length);
  });

  it.each(REQUIRED_APIS)('covers %s', (pair) => {
    const present = load().objects.map((o) => `${o.provider}/${o.api}`);
    expect(present).toContain(pair);
  });

  it('marks as partial exactly the Anthropic message_start counts', () => {
    for (const o of load().objects) expect({ id: o.id, partial: o.expected.partial }).toEqual({ id: o.id, partial: o.api === 'messages-stream-start' });
  });
});
