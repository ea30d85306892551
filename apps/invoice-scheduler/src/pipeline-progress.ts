import type { Kafka } from 'kafkajs';
import { InfrastructureError, sleep, type Logger } from '@meterline/platform';

/**
 * Whether the pipeline has processed everything up to a cut: the consumer groups' committed
 * offsets against per-partition offsets. This is the proof a period close waits for instead of
 * sleeping: committed means stored (the sinks commit after ClickHouse accepted the rows, the
 * rollup consumer after its rollups were published).
 */
export interface PipelineProgress {
  /** End offset per partition of `topic` (index = partition). */
  endOffsets(topic: string): Promise<number[]>;
  /** Committed offset per partition of `topic` for `groupId` (0 where nothing is committed). */
  committedOffsets(groupId: string, topic: string): Promise<number[]>;
}

/** The port over a KafkaJS admin client (connected on first use). */
export class KafkaPipelineProgress implements PipelineProgress {
  readonly #admin;
  #connected: Promise<void> | undefined;

  constructor(kafka: Kafka) {
    this.#admin = kafka.admin();
  }

  async #ready(): Promise<void> {
    this.#connected ??= this.#admin.connect();
    await this.#connected;
  }

  async endOffsets(topic: string): Promise<number[]> {
    await this.#ready();
    return byPartition(await this.#admin.fetchTopicOffsets(topic));
  }

  async committedOffsets(groupId: string, topic: string): Promise<number[]> {
    await this.#ready();
    const [committed] = await this.#admin.fetchOffsets({ groupId, topics: [topic] });
    return byPartition(committed?.partitions ?? []);
  }

  async close(): Promise<void> {
    if (this.#connected !== undefined) await this.#admin.disconnect();
  }
}

function byPartition(rows: readonly { partition: number; offset: string }[]): number[] {
  const out: number[] = [];
  for (const r of rows) out[r.partition] = Math.max(0, Number(r.offset));
  return Array.from(out, (o) => o ?? 0);
}

/** The groups that must have caught up before a period is invoiced, and on which topics. */
export interface CatchUpTarget {
  usageEventsTopic: string;
  /** Groups on usage-events: the raw sink and the rollup consumer. */
  usageEventGroups: readonly string[];
  usageRollupsTopic: string;
  /** The group storing rollups in ClickHouse. */
  rollupSinkGroup: string;
}

function behind(committed: readonly number[], target: readonly number[]): number {
  let lag = 0;
  target.forEach((end, p) => {
    lag += Math.max(0, end - (committed[p] ?? 0));
  });
  return lag;
}

/**
 * Waits until every usage-events group has committed `cut` and the rollup sink has stored every
 * rollup published by then. Throws a retriable error naming who is behind after `timeoutMs`.
 */
export async function waitForPipeline(progress: PipelineProgress, target: CatchUpTarget, cut: readonly number[], options: { timeoutMs: number; pollMs?: number; log: Logger; what: string }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? 250;
  let lastReport = 0;
  const waitGroups = async (topic: string, groups: readonly string[], goal: readonly number[]): Promise<void> => {
    for (;;) {
      const lags = await Promise.all(groups.map(async (g) => [g, behind(await progress.committedOffsets(g, topic), goal)] as const));
      const lagging = lags.filter(([, lag]) => lag > 0);
      if (lagging.length === 0) return;
      const detail = lagging.map(([g, lag]) => `${g} is ${lag} message${lag === 1 ? '' : 's'} behind on ${topic}`).join('; ');
      if (Date.now() >= deadline) {
        throw new InfrastructureError('PIPELINE_BEHIND', `${options.what}: the pipeline has not caught up after ${Math.round(options.timeoutMs / 1000)} s: ${detail}`);
      }
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        options.log.info({ detail }, `${options.what}: waiting for the pipeline to catch up`);
      }
      await sleep(pollMs);
    }
  };
  await waitGroups(target.usageEventsTopic, target.usageEventGroups, cut);
  // Every rollup of the events below the cut is on usage-rollups now; wait until it is stored.
  const rollupsEnd = await progress.endOffsets(target.usageRollupsTopic);
  await waitGroups(target.usageRollupsTopic, [target.rollupSinkGroup], rollupsEnd);
}
