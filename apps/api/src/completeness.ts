import { consumerGroupLag } from '@meterline/kafka';
import type { Kafka } from 'kafkajs';
import type { Logger } from '@meterline/platform';

/** How complete the rollups were when an answer was read. */
export interface RollupCompleteness {
  /** When the pipeline was measured. */
  as_of: string;
  /** Usage events accepted on Kafka that the rollup consumer has not applied yet. */
  pending_events: number;
  /** Rollup records not yet in ClickHouse. */
  pending_rollups: number;
  /** Both are zero: every event accepted before `as_of` is in the answer. */
  complete: boolean;
}

export interface PipelineNames {
  usageEvents: string;
  usageRollups: string;
  rollupGroup: string;
  rollupSinkGroup: string;
}

/**
 * The rollup pipeline's lag, measured at most every `maxAgeMs` (it costs Kafka admin round trips;
 * concurrent readers share one measurement).
 */
export function rollupCompleteness(kafka: Kafka, names: PipelineNames, options: { maxAgeMs?: number; clock?: () => number } = {}): () => Promise<RollupCompleteness> {
  const clock = options.clock ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? 5_000;
  let last: { at: number; value: Promise<RollupCompleteness> } | undefined;
  const measure = async (at: number): Promise<RollupCompleteness> => {
    const [events, rollups] = await Promise.all([consumerGroupLag(kafka, names.rollupGroup, names.usageEvents), consumerGroupLag(kafka, names.rollupSinkGroup, names.usageRollups)]);
    return { as_of: new Date(at).toISOString(), pending_events: events, pending_rollups: rollups, complete: events === 0 && rollups === 0 };
  };
  return () => {
    const now = clock();
    if (last === undefined || now - last.at >= maxAgeMs) {
      const value = measure(now);
      last = { at: now, value };
      // A failed measurement is not cached: the next answer measures again.
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}

/**
 * The measurement as an answer reports it: null when there is none or it failed (an answer is
 * not refused because Kafka's admin API did not answer; the failure is logged).
 */
export function reportedCompleteness(measure: (() => Promise<RollupCompleteness>) | undefined, log: Logger): () => Promise<RollupCompleteness | null> {
  return async () => {
    if (measure === undefined) return null;
    try {
      return await measure();
    } catch (error) {
      log.warn({ err: error }, 'could not measure the rollup pipeline for a usage answer');
      return null;
    }
  };
}
