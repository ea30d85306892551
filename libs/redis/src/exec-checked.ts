import { ReplyError } from 'ioredis';
import { MeterlineError, errorMessage } from '@meterline/platform';

/** What `pipeline.exec()` / `multi().exec()` resolves to: null when a WATCHed MULTI aborted. */
type ExecResults = [Error | null, unknown][] | null;

export interface RedisCommandFailure {
  /** Position of the command in the pipeline. */
  index: number;
  /** The command name as Redis saw it (ioredis tags reply errors with it), e.g. `hset`. */
  command: string;
  error: Error;
}

/**
 * A pipeline or transaction in which at least one command failed. ioredis resolves `exec()`
 * even then (each command's error sits in its result), so unchecked results lose writes silently.
 */
export class RedisPipelineError extends MeterlineError {
  readonly failures: readonly RedisCommandFailure[];
  constructor(what: string, failures: readonly RedisCommandFailure[], retriable: boolean, cause?: unknown) {
    const first = failures[0];
    const detail = first === undefined ? errorMessage(cause) : `${failures.length} command(s) failed (${[...new Set(failures.map((f) => f.command))].join(', ')}); first: ${first.command} #${first.index}: ${first.error.message}`;
    super('REDIS_PIPELINE_FAILED', `${what}: ${detail}`, { retriable, cause: cause ?? first?.error });
    this.failures = failures;
  }
}

// Server replies that pass on their own (loading a dump, a busy script, a failover, memory
// freed by eviction). Every other reply (WRONGTYPE, NOSCRIPT, ERR syntax, EXECABORT) repeats.
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS|OOM)\b/;

/** Connection-level errors (not a Redis reply) may pass; reply errors only if Redis says so. */
function isTransient(error: unknown): boolean {
  if (!(error instanceof ReplyError)) return true;
  return TRANSIENT_REPLY.test(errorMessage(error));
}

type Batch = { exec(): Promise<ExecResults> };

/**
 * The names of the queued commands, result by result. ioredis tags pipeline reply errors
 * with their command but not errors inside a MULTI's EXEC reply, so the names come from the
 * queue (ioredis keeps it on `_queue`; a MULTI's queue is wrapped in multi … exec).
 */
function queuedNames(batch: Batch): string[] {
  const queue = (batch as { _queue?: unknown })._queue;
  if (!Array.isArray(queue)) return [];
  const names = queue.map((command: { name?: unknown }) => (typeof command?.name === 'string' ? command.name : '?'));
  return names[0] === 'multi' && names.at(-1) === 'exec' ? names.slice(1, -1) : names;
}

function commandOf(error: Error, index: number, names: readonly string[]): string {
  const command = (error as { command?: { name?: unknown } }).command;
  return typeof command?.name === 'string' ? command.name : (names[index] ?? `command #${index}`);
}

/**
 * Runs `exec()` of a pipeline or MULTI and returns each command's reply; throws a
 * RedisPipelineError when any command failed, when exec itself rejects, or when a MULTI was
 * aborted (null). `what` names the work in the message (e.g. "outbox alert marks").
 */
export async function execChecked(batch: Batch, what: string): Promise<unknown[]> {
  let results: ExecResults;
  try {
    results = await batch.exec();
  } catch (error) {
    // exec itself rejected (connection lost, EXECABORT): no per-command results to name.
    throw new RedisPipelineError(what, [], isTransient(error), error);
  }
  if (results === null) throw new RedisPipelineError(what, [], true, new Error('transaction aborted (a WATCHed key changed)'));
  const names = queuedNames(batch);
  const failures: RedisCommandFailure[] = [];
  for (const [index, [error]] of results.entries()) if (error) failures.push({ index, command: commandOf(error, index, names), error });
  if (failures.length > 0) throw new RedisPipelineError(what, failures, failures.every((f) => isTransient(f.error)));
  return results.map(([, reply]) => reply);
}
