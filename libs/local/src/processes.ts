import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Child processes that cannot outlive the test run.
 *
 * Every process started through `spawnManaged` is
 *  - killed (SIGKILL) from a `process.on('exit')` hook if it is still running when this
 *    Node process exits normally or through `process.exit()`, and
 *  - watched by a tiny detached `sh` loop that SIGKILLs it once this Node process is gone,
 *    which covers the cases no hook can: the parent was SIGKILLed or crashed natively.
 *
 * Each child runs in its own process group, so Ctrl-C in a terminal does not stop it at
 * the same moment as the process that uses it.
 *
 * Output (stdout and stderr) goes to a file rather than a pipe: nothing can block on a full
 * pipe, and the child never gets EPIPE if the parent dies first.
 */

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnManagedOptions {
  /** Label used in messages, e.g. `kafka` or `redis`. */
  readonly name: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** stdout and stderr are appended to this file; 'inherit': they go to this process's own (a terminal). */
  readonly outputFile: string;
  /** Start the orphan watchdog (default true). */
  readonly watchdog?: boolean;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly outputFile: string;
  /** Resolves once the process has exited and been reaped. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** Set once the process has exited. */
  readonly exitInfo: ExitInfo | undefined;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL if still running after `graceMs` (default 20 s); resolves after exit. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /** SIGKILL; resolves after exit. */
  kill(): Promise<ExitInfo>;
  /** The last `maxBytes` of the output file. */
  outputTail(maxBytes?: number): string;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Detached `sh` loop: while both this process and the child live, sleep; then SIGKILL the
 * child. Ends by itself at most a second after the child exits.
 */
export function spawnWatchdog(parentPid: number, childPid: number): void {
  const script =
    `while kill -0 ${parentPid} 2>/dev/null && kill -0 ${childPid} 2>/dev/null; do sleep 1; done; ` +
    `kill -9 ${childPid} 2>/dev/null`;
  const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.on('error', () => {
    // No `sh`: the exit hook still covers normal exits.
  });
  watchdog.unref();
}

/** Spawns `command` with output to `options.outputFile`; resolves once the OS has started it. */
export async function spawnManaged(
  command: string,
  args: readonly string[],
  options: SpawnManagedOptions,
): Promise<ManagedProcess> {
  installExitHook();
  const inherit = options.outputFile === 'inherit';
  const outFd = inherit ? undefined : openSync(options.outputFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: outFd === undefined ? ['ignore', 'inherit', 'inherit'] : ['ignore', outFd, outFd],
      // Its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) reaches
      // only this process, which stops the child after its own workers have drained.
      detached: true,
    });
    await new Promise<void>((resolveSpawn, reject) => {
      child.once('spawn', () => resolveSpawn());
      child.once('error', reject);
    });
  } finally {
    if (outFd !== undefined) closeSync(outFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name}: spawned ${command} but it has no pid`);
  // Later errors (e.g. a failed kill) must not crash the parent.
  child.on('error', () => undefined);

  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(managed);
      resolveExit(exitInfo);
    });
  });

  const sendSignal = (signal: NodeJS.Signals): void => {
    if (exitInfo !== undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      // exited in the meantime
    }
  };

  const managed: ManagedProcess = {
    name: options.name,
    pid,
    outputFile: options.outputFile,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    isRunning: () => exitInfo === undefined,
    async stop(graceMs = 20_000) {
      if (exitInfo !== undefined) return exitInfo;
      sendSignal('SIGTERM');
      if (await waitForExit(managed, graceMs)) return exited;
      sendSignal('SIGKILL');
      return exited;
    },
    async kill() {
      sendSignal('SIGKILL');
      return exited;
    },
    outputTail: (maxBytes = 8_192) => (inherit ? '' : tailFile(options.outputFile, maxBytes)),
  };
  live.add(managed);
  if (options.watchdog !== false) spawnWatchdog(process.pid, pid);
  return managed;
}

/** True if the process exited within `timeoutMs`. */
export async function waitForExit(child: ManagedProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitInfo !== undefined) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout(false), timeoutMs);
  });
  try {
    return await Promise.race([child.exited.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a process with this pid exists (zombies count as existing). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls until no process has this pid; true if it went away within `timeoutMs`. */
export async function waitForPidGone(pid: number, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isPidAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolveSleep) => setTimeout(resolveSleep, intervalMs));
  }
}

/** The last `maxBytes` of a file as UTF-8 ('' if it does not exist). */
export function tailFile(path: string, maxBytes = 8_192): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export interface WaitUntilReadyOptions {
  /** Overall deadline. */
  readonly timeoutMs: number;
  /** Pause between failed probes (default 250 ms). */
  readonly intervalMs?: number;
  /** A probe still pending after this long counts as a failed attempt (default 10 s). */
  readonly probeTimeoutMs?: number;
  /** Appended to failure messages, e.g. the tail of a log file. */
  readonly diagnostics?: () => string;
}

/**
 * Calls `probe` until it resolves true. Fails at once, without waiting for the deadline, if
 * `child` exits; fails after `timeoutMs` otherwise (the caller decides whether to kill).
 * A probe that throws counts as "not ready yet".
 */
export async function waitUntilReady(
  child: ManagedProcess,
  probe: () => Promise<boolean>,
  options: WaitUntilReadyOptions,
): Promise<void> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 250;
  const probeTimeoutMs = options.probeTimeoutMs ?? 10_000;
  const exitedMarker = child.exited.then(() => 'exited' as const);
  const details = (): string => {
    const text = options.diagnostics?.() ?? child.outputTail();
    return text.trim() === '' ? '' : `\n--- last output ---\n${text.trimEnd()}`;
  };
  for (;;) {
    const outcome = await Promise.race([
      withTimeout(probe().catch(() => false), Math.min(probeTimeoutMs, Math.max(1, deadline - Date.now())), false),
      exitedMarker,
    ]);
    if (outcome === true) return;
    const exit = child.exitInfo;
    if (outcome === 'exited' || exit !== undefined) {
      const how = exit === undefined ? 'exited' : `exited (code ${exit.code ?? 'none'}, signal ${exit.signal ?? 'none'})`;
      throw new Error(`${child.name} (pid ${child.pid}) ${how} before it was ready${details()}`);
    }
    if (Date.now() >= deadline) {
      throw new Error(`${child.name} (pid ${child.pid}) not ready after ${Math.round((Date.now() - started) / 1000)} s${details()}`);
    }
    const pause = Math.max(0, Math.min(intervalMs, deadline - Date.now()));
    await Promise.race([new Promise((resolveSleep) => setTimeout(resolveSleep, pause)), exitedMarker]);
  }
}

/** `promise`, or `fallback` if it has not settled after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout(fallback), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
