import { execFile } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { repoRoot } from '@meterline/local';

const run = promisify(execFile);

it('npx meterline runs under the project Node 24 without engine warnings, whatever Node npm itself runs on', async () => {
  // As a user's shell has it: node_modules/.bin not on PATH, npx from the system npm.
  const bin = join(repoRoot(), 'node_modules', '.bin');
  const path = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== bin).join(delimiter);
  const script = `const v = process.version; require('child_process').execFileSync('npx', ['meterline', 'help'], { stdio: 'inherit' }); console.error('npm ran on ' + v);`;
  const { stdout, stderr } = await run('node', ['-e', script], { cwd: repoRoot(), env: { ...process.env, PATH: path, NODE_OPTIONS: '' } });
  expect(stdout).toContain('meterline start');
  expect(stderr).not.toContain('EBADENGINE');
  expect(stderr).not.toMatch(/npm warn/i);
  expect(stderr).toMatch(/npm ran on v\d+/);
});
