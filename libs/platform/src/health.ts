import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { errorMessage } from './errors';

/** Resolves when the dependency answers; rejects (or throws) with what is wrong. */
export type ReadinessCheck = () => Promise<void> | void;

export interface CheckResult {
  ok: boolean;
  /** Why the check failed (absent when ok). */
  error?: string;
  ms: number;
}

export interface Readiness {
  ready: boolean;
  status: 'ready' | 'not ready';
  /** The names of the failing checks (absent when ready). */
  failing?: string[];
  checks: Record<string, CheckResult>;
}

const CHECK_TIMEOUT_MS = 2_000;

/**
 * The readiness checks of one process: each adapter and worker registers what "able to do my
 * job" means for it (Kafka metadata, Redis PING, ClickHouse SELECT 1, consumer group joined,
 * sink not paused). Checks run concurrently, each bounded by a timeout, so a hung dependency
 * is reported by name instead of hanging the probe.
 */
export class Health {
  readonly #checks = new Map<string, ReadinessCheck>();
  readonly #startedAt = Date.now();

  constructor(private readonly timeoutMs = CHECK_TIMEOUT_MS) {}

  /** A later check of the same name replaces the earlier one (shared clients register once). */
  add(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  /**
   * Not ready until `run` resolves (its components register their checks as they start, so
   * without this a half-started process could pass with the few checks it has so far).
   */
  async whileStarting<T>(run: () => Promise<T>): Promise<T> {
    this.add('startup', () => {
      throw new Error('starting');
    });
    const result = await run();
    this.#checks.delete('startup');
    return result;
  }

  liveness(): { status: 'ok'; uptime_s: number } {
    return { status: 'ok', uptime_s: Math.round((Date.now() - this.#startedAt) / 1000) };
  }

  async readiness(): Promise<Readiness> {
    const entries = await Promise.all([...this.#checks].map(async ([name, check]) => [name, await this.#run(check)] as const));
    const checks = Object.fromEntries(entries);
    const failing = entries.filter(([, result]) => !result.ok).map(([name]) => name);
    return failing.length === 0 ? { ready: true, status: 'ready', checks } : { ready: false, status: 'not ready', failing, checks };
  }

  async #run(check: ReadinessCheck): Promise<CheckResult> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([Promise.resolve().then(check), timeout]);
      return { ok: true, ms: Date.now() - started };
    } catch (error) {
      return { ok: false, error: errorMessage(error), ms: Date.now() - started };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Serves `GET /livez` (the event loop answers) and `GET /readyz` (200 when every check passes,
 * else 503 naming the failing ones). Returns false for any other path, so an HTTP API can
 * mount these beside its own routes.
 */
export function serveHealthRoute(health: Health, req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (path === '/livez') {
    sendJson(res, 200, health.liveness());
    return true;
  }
  if (path === '/readyz') {
    void health.readiness().then(({ ready, ...body }) => sendJson(res, ready ? 200 : 503, body));
    return true;
  }
  return false;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

/** The small HTTP listener of a worker process: `/livez` and `/readyz` only. */
export async function startHealthServer(health: Health, host: string, port: number, log: Logger): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    if (!serveHealthRoute(health, req, res)) sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'this port serves GET /livez and GET /readyz' } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  log.info({ url }, 'health listening (/livez, /readyz)');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
