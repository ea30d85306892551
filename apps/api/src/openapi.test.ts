import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { openApiDocument } from './openapi';

it('docs/openapi.json is the document the route schemas generate (regenerate: npx meterline openapi --out docs/openapi.json)', async () => {
  const committed = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as unknown;
  expect(await openApiDocument()).toEqual(committed);
});
