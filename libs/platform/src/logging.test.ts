import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** Logs one line through createLogger in a fresh process (stdout is a pipe there, not a TTY). */
async function logOnce(format: string): Promise<string> {
  const script = `import { createLogger } from '${new URL('./logging.ts', import.meta.url).pathname}';
const log = createLogger({ level: 'info', format: '${format}', name: 'probe' });
log.info({ api_key: 'sk-secret', tenant: 'acme' }, 'hello');`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, NODE_OPTIONS: '' } });
  return stdout;
}

describe('createLogger', () => {
  it('json (and auto when stdout is not a terminal): one JSON object per line, secrets redacted', async () => {
    for (const format of ['json', 'auto']) {
      const line = JSON.parse((await logOnce(format)).trim()) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 30, msg: 'hello', app: 'probe', tenant: 'acme', api_key: '[redacted]' });
    }
  });

  it('pretty: readable, coloured text for people, secrets redacted', async () => {
    const text = await logOnce('pretty');
    expect(() => JSON.parse(text) as unknown).toThrow();
    expect(text).toContain('INFO');
    expect(text).toContain('hello');
    expect(text).toContain('\u001b['); // ANSI colour
    expect(text).not.toContain('sk-secret');
  });
});
