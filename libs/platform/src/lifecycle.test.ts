import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** A process whose drain never ends, as a hung dependency would make it. */
const script = `import { Lifecycle } from '${new URL('./lifecycle.ts', import.meta.url).pathname}';
const lifecycle = new Lifecycle();
lifecycle.onStop('first-registered', async () => { console.log('stopped first-registered'); });
lifecycle.onStop('hangs', () => { console.log('draining hangs'); return new Promise(() => {}); });
lifecycle.stopOnSignals();
setInterval(() => {}, 1000);
console.log('ready');`;

function start(): { child: ReturnType<typeof spawn>; output: () => string; line: (text: string) => Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (const w of waiters.filter((w) => text.includes(w.text))) w.resolve();
  });
  return {
    child,
    output: () => text,
    line: (wanted) => new Promise((resolve) => (text.includes(wanted) ? resolve() : waiters.push({ text: wanted, resolve }))),
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
}

describe('Lifecycle.stopOnSignals', () => {
  it('the first SIGINT drains in reverse order; a second one exits at once (130) without waiting for the drain', async () => {
    const p = start();
    await p.line('ready');
    p.child.kill('SIGINT');
    await p.line('draining hangs');
    p.child.kill('SIGINT');
    expect(await p.exit).toBe(130);
    // The drain was cut short: the stop registered first (run last) never ran.
    expect(p.output()).not.toContain('stopped first-registered');
  });

  it('SIGTERM drains like the first Ctrl-C', async () => {
    const p = start();
    await p.line('ready');
    p.child.kill('SIGTERM');
    await p.line('draining hangs');
    expect(p.child.exitCode).toBeNull();
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(130);
  });
});
