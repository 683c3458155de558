import type { Bar, MarketData } from '../intent.js';

/**
 * Reading the bars an intent carries. The intent schema checks each bar's fields but not
 * their order, so breakers sort by time themselves; two bars with the same timestamp make
 * "the previous close" ambiguous and are refused rather than guessed.
 */

export type BarsResult = { ok: true; bars: Bar[] } | { ok: false; reason: string };

export function barsInTimeOrder(bars: readonly Bar[]): BarsResult {
  const timed: Array<{ ms: number; bar: Bar }> = [];
  for (const [i, bar] of bars.entries()) {
    const ms = Date.parse(bar.t);
    if (!Number.isFinite(ms)) return { ok: false, reason: `bar #${i} has an unreadable timestamp "${bar.t}"` };
    timed.push({ ms, bar });
  }
  timed.sort((a, b) => a.ms - b.ms);
  for (let i = 1; i < timed.length; i++) {
    const prev = timed[i - 1];
    const cur = timed[i];
    if (prev !== undefined && cur !== undefined && prev.ms === cur.ms) {
      return { ok: false, reason: `two bars share the timestamp ${cur.bar.t}` };
    }
  }
  return { ok: true, bars: timed.map((x) => x.bar) };
}

export type LastCloseResult = { ok: true; close: number; t: string } | { ok: false; reason: string };

/** The close of the latest bar, which must be a finite positive price. */
export function lastClose(marketData: MarketData | undefined): LastCloseResult {
  if (marketData === undefined) return { ok: false, reason: 'the intent carries no marketData' };
  const ordered = barsInTimeOrder(marketData.bars);
  if (!ordered.ok) return ordered;
  const last = ordered.bars[ordered.bars.length - 1];
  if (last === undefined) return { ok: false, reason: 'marketData.bars is empty' };
  if (!Number.isFinite(last.c) || last.c <= 0) {
    return { ok: false, reason: `the last bar close (${last.t}) is ${last.c}, not a positive price` };
  }
  return { ok: true, close: last.c, t: last.t };
}
