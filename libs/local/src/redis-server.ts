import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports';
import { spawnManaged, waitUntilReady, type ManagedProcess } from './processes';

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 20_000;

export interface StartRedisOptions {
  /** Default: a free port. */
  readonly port?: number;
  /** Working dir (`--dir`, holds redis.log); default: a fresh temp dir, deleted on stop(). */
  readonly dir?: string;
  /** Keep the data in `dir` across restarts (append-only file); default false: nothing persisted. */
  readonly persist?: boolean;
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** pid of the current redis-server (changes on restart()). */
  readonly pid: number;
  readonly running: boolean;
  /** SIGTERM, SIGKILL after 20 s; deletes the dir only if startRedis created it. */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Stops it if it runs and starts it again on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
}

/** Absolute path of an executable on PATH, or undefined. */
export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function redisAnswers(port: number): Promise<boolean> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}

async function launch(binary: string, port: number, dir: string, persist: boolean): Promise<ManagedProcess> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    // Persisted: every write in the append-only file, fsync'd each second (a local fleet's
    // restart finds its stream state instead of rebuilding it from ClickHouse).
    '--appendonly', persist ? 'yes' : 'no',
    '--daemonize', 'no',
    '--dir', dir,
  ];
  const child = await spawnManaged(binary, args, { name: 'redis-server', cwd: dir, outputFile: join(dir, 'redis.log') });
  try {
    await waitUntilReady(child, () => redisAnswers(port), { timeoutMs: READY_TIMEOUT_MS, intervalMs: 50 });
  } catch (error) {
    await child.kill();
    throw error;
  }
  return child;
}

/** Starts a throwaway `redis-server` on 127.0.0.1 and resolves once it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = findOnPath('redis-server');
  if (binary === undefined) {
    throw new Error('redis-server not found on PATH: install it with `apt-get install -y redis-server`');
  }
  const ownsDir = options.dir === undefined;
  const dir = options.dir === undefined ? await mkdtemp(join(tmpdir(), 'meterline-redis-')) : resolve(options.dir);
  const port = options.port ?? (await freePort());
  let child: ManagedProcess;
  try {
    await mkdir(dir, { recursive: true });
    child = await launch(binary, port, dir, options.persist === true);
  } catch (error) {
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let deleted = false;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child.pid;
    },
    get running() {
      return child.isRunning();
    },
    async stop() {
      await child.stop(STOP_GRACE_MS);
      if (ownsDir && !deleted) {
        deleted = true;
        await rm(dir, { recursive: true, force: true });
      }
    },
    async kill() {
      await child.kill();
    },
    async restart() {
      await child.stop(STOP_GRACE_MS);
      if (deleted) await mkdir(dir, { recursive: true });
      deleted = false;
      child = await launch(binary, port, dir, options.persist === true);
    },
  };
}
