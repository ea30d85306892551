/**
 * The stream state's layout in Redis, defined once: key names and hash fields. `keys.ts` builds
 * keys from it, the script loader hands it to every Lua script as the table `LAYOUT` (so the
 * scripts spell no key or field name of their own), and the state rebuild and the tests read it.
 */
export const streamLayout = {
  /** Every stream key starts with it; a state rebuild deletes `<root>:*` (but the lease). */
  root: 'ml',
  /** Keys under a tenant's prefix `ml:{<tenant>}:` (one Redis Cluster slot per tenant). */
  tenantKeys: {
    /** `wm:<partition>`: hash (watermark fields). */
    watermark: 'wm:',
    /** `outbox:<partition>`: list of JSON entries waiting to be published. */
    outbox: 'outbox:',
    /** Hash alert id -> time its publish started. */
    alertsSending: 'alerts-sending',
    /** `q:<quota id>:<period start>`: hash (quota counter fields). */
    quotaCounter: 'q:',
    /** Hash quota id -> definition JSON (mirror of the durable store). */
    quotaDefinitions: 'quotas',
    /** `seen:<hour ms>`: set of event id hashes seen in that hour within the dedup window. */
    seen: 'seen:',
    /** `r:<partition>:<hour ms>:<dims JSON>`: hash (rollup fields) of an open hour. */
    rollup: 'r:',
    /** `open:<partition>`: sorted set of `<hour ms>:<dims JSON>` (score: hour) with a rollup hash. */
    openHours: 'open:',
  },
  /** Fleet-wide keys under `ml:`. */
  globalKeys: {
    /** Set when the state was built; its absence means Redis lost its data. */
    epoch: 'epoch',
    /** The rebuild's lease: its holder's token, with a TTL the holder renews. */
    rebuildLease: 'rebuild-lease',
    /** `unpriced-announced:<provider>/<model>`. */
    unpricedAnnounced: 'unpriced-announced:',
  },
  watermark: { offset: 'off', maxEventTime: 'maxts' },
  quotaCounter: { used: 'used', alertFlagPrefix: 'a:' },
  /**
   * An open hour's rollup hash. Latency and ttft sums and maxima are whole microseconds in the
   * `*Us*` fields; the `*Ms*` fields are whole milliseconds of hashes written before usage-event
   * v2 (readers add both). Money is split hi * 10^6 + lo (see apply-usage-batch-2.lua).
   */
  rollup: {
    requests: 'req',
    input: 'in',
    cacheRead: 'cr',
    cacheWrite: 'cw',
    cacheWrite1h: 'cw1',
    output: 'out',
    reasoning: 'rs',
    audioInput: 'ai',
    audioOutput: 'ao',
    imageInput: 'ii',
    imageOutput: 'io',
    errors: 'err',
    latencyMsSum: 'lat',
    latencyMsMax: 'latmax',
    latencyUsSum: 'latu',
    latencyUsMax: 'latumax',
    latencyCount: 'latn',
    ttftMsSum: 'ttft',
    ttftMsMax: 'ttftmax',
    ttftUsSum: 'ttftu',
    ttftUsMax: 'ttftumax',
    ttftCount: 'ttftn',
    late: 'late',
    costHi: 'cph',
    costLo: 'cpl',
    chargeHi: 'chh',
    chargeLo: 'chl',
    savingsHi: 'svh',
    savingsLo: 'svl',
    unpricedCost: 'upc',
    unpricedCharge: 'uph',
    unitPrefix: 'u:',
    errorClassPrefix: 'e:',
    statusClassPrefix: 's:',
    costVersionPrefix: 'vc:',
    chargeVersionPrefix: 'vh:',
  },
} as const;

type Layout = { readonly [name: string]: string | Layout };

/** The layout as a Lua table constructor (the loader prepends `local LAYOUT = <this>` to each script). */
export function luaTable(layout: Layout = streamLayout): string {
  const entries = Object.entries(layout).map(([name, value]) => {
    if (typeof value !== 'string') return `${name} = ${luaTable(value)}`;
    // Names are plain ASCII: no escaping to get wrong between JavaScript and Lua.
    if (!/^[\w:./-]*$/.test(value)) throw new Error(`layout value ${JSON.stringify(value)} of ${name} is not a plain name`);
    return `${name} = '${value}'`;
  });
  return `{ ${entries.join(', ')} }`;
}
