import { PARAM_SPECS } from '../config.js';

const FALSE_WORDS: ReadonlySet<string> = new Set(['false', '0', 'no', 'off']);

/**
 * `HALT_CANCEL_OPEN_ORDERS`, read on its own rather than through `loadRuntimeConfig`: a halt
 * must still cancel when some unrelated parameter is invalid. Fail safe toward cancelling —
 * only an explicit false word turns it off; empty means the declared default (true).
 */
export function haltCancelsOpenOrders(env: Readonly<Record<string, string | undefined>>): boolean {
  const raw = (env.HALT_CANCEL_OPEN_ORDERS ?? '').trim().toLowerCase();
  const value = raw === '' ? PARAM_SPECS.HALT_CANCEL_OPEN_ORDERS.default : raw;
  return !FALSE_WORDS.has(value);
}

export const HaltCancelScope = { all: 'all', haltgate: 'haltgate' } as const;
export type HaltCancelScope = (typeof HaltCancelScope)[keyof typeof HaltCancelScope];

/**
 * `HALT_CANCEL_SCOPE`, read on its own like HALT_CANCEL_OPEN_ORDERS. `haltgate` (trimmed)
 * cancels only haltgate's own orders; empty means the declared default (`all`); anything
 * else — a typo included — cancels all (fail safe toward cancelling; loadRuntimeConfig reports
 * the value as invalid).
 */
export function haltCancelScope(env: Readonly<Record<string, string | undefined>>): HaltCancelScope {
  const raw = (env.HALT_CANCEL_SCOPE ?? '').trim();
  const value = raw === '' ? PARAM_SPECS.HALT_CANCEL_SCOPE.default : raw;
  return value === HaltCancelScope.haltgate ? HaltCancelScope.haltgate : HaltCancelScope.all;
}
