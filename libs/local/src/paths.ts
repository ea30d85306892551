import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * Absolute path of the repository root: the nearest ancestor of this file that holds
 * `infra/kafka/pom.xml`. Works from a clean clone, from any cwd, under tsx and vitest.
 */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  const start = dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'infra', 'kafka', 'pom.xml'))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = resolve(dir, '..');
    if (parent === dir) {
      throw new Error(`repoRoot: no ancestor of ${start} contains infra/kafka/pom.xml`);
    }
    dir = parent;
  }
}
