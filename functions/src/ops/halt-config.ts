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
