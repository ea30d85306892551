import type { UsageEvent } from '../usage-event/usage-event';
import { hourStart } from './hour';

/** What an hourly rollup row is grouped by (besides the hour). */
export interface RollupDimensions {
  tenant_id: string;
  /** `''` when the event has no project (a valid event never has an empty project_id). */
  project_id: string;
  provider: string;
  model: string;
  operation: string;
}

/** The rollup dimensions of an event. */
export function rollupDimensions(event: Pick<UsageEvent, 'tenant_id' | 'project_id' | 'provider' | 'model' | 'operation'>): RollupDimensions {
  return {
    tenant_id: event.tenant_id,
    project_id: event.project_id ?? '',
    provider: event.provider,
    model: event.model,
    operation: event.operation,
  };
}

const SEPARATOR = '|';
const dimensionOrder = ['tenant_id', 'project_id', 'provider', 'model', 'operation'] as const;

function escapePart(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`);
}

/**
 * A stable, unambiguous key for (dimensions, hour):
 * `tenant|project|provider|model|operation|hourStartMs`, with `\` and `|` inside a value
 * escaped as `\\` and `\|`, so two different groups never share a key. `hourStartMs` must be the
 * start of a UTC hour (see `hourStart`).
 */
export function rollupGroupKey(dims: RollupDimensions, hourStartMs: number): string {
  if (!Number.isSafeInteger(hourStartMs) || hourStart(hourStartMs) !== hourStartMs) {
    throw new RangeError(`hourStartMs must be the start of a UTC hour, got ${String(hourStartMs)}`);
  }
  return `${dimensionOrder.map((d) => escapePart(dims[d])).join(SEPARATOR)}${SEPARATOR}${hourStartMs}`;
}

/** Inverse of `rollupGroupKey`. Throws on a string it did not produce. */
export function parseRollupGroupKey(key: string): { dims: RollupDimensions; hourStartMs: number } {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < key.length; i++) {
    const c = key[i];
    if (c === '\\') {
      const next = key[i + 1];
      if (next !== '\\' && next !== SEPARATOR) throw new SyntaxError(`bad escape at ${i} in rollup group key ${JSON.stringify(key)}`);
      current += next;
      i++;
    } else if (c === SEPARATOR) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  const [tenant_id, project_id, provider, model, operation, hour] = parts;
  if (parts.length !== 6 || tenant_id === undefined || project_id === undefined || provider === undefined || model === undefined || operation === undefined || hour === undefined || !/^-?\d+$/.test(hour)) {
    throw new SyntaxError(`not a rollup group key: ${JSON.stringify(key)}`);
  }
  return { dims: { tenant_id, project_id, provider, model, operation }, hourStartMs: Number(hour) };
}
