import { z } from 'zod';

/**
 * Per-symbol halts (`symbolHalts/{symbol}`): an operator halts one symbol for every strategy.
 * Read by name inside each claim of that symbol. Fail closed like the kill switch (G6):
 *  - no document: the symbol is not halted (symbols are open unless someone halted them);
 *  - a document whose `halted` is not a boolean, or whose known fields have the wrong type,
 *    or that is not a map at all: the symbol IS halted, with a reason naming the problem —
 *    someone wrote that document to restrict the symbol, so it must not trade freely.
 * Extra fields are allowed (notes added in the console).
 */

export const SYMBOL_HALTS = 'symbolHalts';

/** The symbols intents may carry (domain/intent.ts): AAPL, BRK.B, BTC/USD. */
export const HALTABLE_SYMBOL = /^[A-Z0-9][A-Z0-9./-]{0,20}$/;

/**
 * The document id of a symbol's halt. Firestore ids cannot hold `/`, so a crypto pair's `/`
 * becomes `_` (`BTC/USD` → `symbolHalts/BTC_USD`); `_` never occurs in a symbol, so the mapping
 * is one to one. Every other symbol is its own id.
 */
export function symbolHaltDocId(symbol: string): string {
  return symbol.replace(/\//g, '_');
}

/** A symbol the admin writes accept (the API and CLI refuse anything else). */
export function isHaltableSymbol(symbol: string): boolean {
  return HALTABLE_SYMBOL.test(symbol);
}

export const symbolHaltDocumentSchema = z.looseObject({
  halted: z.boolean({ message: 'halted must be a boolean (true or false)' }),
  reason: z.string().nullish(),
  updatedBy: z.string().nullish(),
  /** A Date once converted from a Firestore Timestamp at the store boundary, or an ISO string. */
  updatedAt: z.union([z.date(), z.iso.datetime({ offset: true })]).nullish(),
});

export interface SymbolHaltDecision {
  halted: boolean;
  /** Why the symbol is halted (naming the document and, for a malformed one, the problem), or null. */
  reason: string | null;
}

/**
 * Whether `symbol` is halted, from its `symbolHalts/{symbol}` document's data (`undefined` when
 * the document does not exist). Pure and total: never throws, whatever `data` is.
 */
export function decideSymbolHalt(symbol: string, data: unknown): SymbolHaltDecision {
  if (data === undefined) return { halted: false, reason: null };
  const where = `${SYMBOL_HALTS}/${symbolHaltDocId(symbol)}`;
  const parsed = symbolHaltDocumentSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message));
    return { halted: true, reason: `${where} is malformed (${problems.join('; ')}); the symbol is halted until an operator writes halted: false or deletes it` };
  }
  const d = parsed.data;
  if (!d.halted) return { halted: false, reason: null };
  return { halted: true, reason: `${where} is halted${d.reason ? `: ${d.reason}` : ''}${d.updatedBy ? ` (by ${d.updatedBy})` : ''}` };
}

