import { z } from 'zod';

/**
 * The kill switch (G6, fail closed). Two sources, combined with OR:
 *  - the `ops/killSwitch` document, written by people in the console: a missing document,
 *    or one whose `halted` is not a boolean, or whose known fields have the wrong type, is halted;
 *  - the deploy-time `EXECUTION_HALTED` param: only an explicit "not halted" word is not halted.
 *
 * Not halted, the document may set the reduce-only posture (`reduceOnly: true`): only orders
 * that shrink a position are claimed (domain/exposure/reduce-only.ts). It is optional, and a
 * `reduceOnly` that is there but not a boolean halts, like any malformed field: an operator who
 * typed "yes" meant to restrict trading, so it must not trade freely.
 */

export const KillSwitchSource = { document: 'document', param: 'param' } as const;
export type KillSwitchSource = (typeof KillSwitchSource)[keyof typeof KillSwitchSource];

export interface KillSwitchState {
  halted: boolean;
  /** Not halted, and the document asks for the reduce-only posture. Always false while halted. */
  reduceOnly: boolean;
  /** Why trading is halted (or `null` when it is not), naming the source. */
  reason: string | null;
  sources: KillSwitchSource[];
  /** The operator fields of the document, when it was well formed. */
  document: { reason: string | null; updatedBy: string | null; updatedAtMs: number | null } | null;
}

/**
 * The document's shape. Extra fields are allowed (operators add notes in the console); the
 * fields haltgate reads must have the right type, or the document is malformed.
 * `updatedAt` arrives from the store as a Date (a Firestore Timestamp converted at the boundary).
 */
export const killSwitchDocumentSchema = z.looseObject({
  halted: z.boolean({ message: 'halted must be a boolean (true or false)' }),
  reason: z.string().nullish(),
  updatedBy: z.string().nullish(),
  updatedAt: z.union([z.date(), z.iso.datetime({ offset: true })]).nullish(),
  reduceOnly: z.boolean({ message: 'reduceOnly must be a boolean (true or false), or absent' }).optional(),
});

export type KillSwitchDocumentParse =
  | { ok: true; halted: boolean; reduceOnly: boolean; reason: string | null; updatedBy: string | null; updatedAtMs: number | null }
  | { ok: false; problem: string };

export function parseKillSwitchDocument(data: unknown): KillSwitchDocumentParse {
  if (data === undefined || data === null) return { ok: false, problem: 'ops/killSwitch does not exist' };
  const parsed = killSwitchDocumentSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
    return { ok: false, problem: `ops/killSwitch is malformed (${problems.join('; ')})` };
  }
  const d = parsed.data;
  const updatedAtMs = d.updatedAt == null ? null : d.updatedAt instanceof Date ? d.updatedAt.getTime() : Date.parse(d.updatedAt);
  return { ok: true, halted: d.halted, reduceOnly: d.reduceOnly ?? false, reason: d.reason ?? null, updatedBy: d.updatedBy ?? null, updatedAtMs };
}

const NOT_HALTED_WORDS: ReadonlySet<string> = new Set(['', '0', 'false', 'no', 'off']);

/**
 * `EXECUTION_HALTED`: after trimming and lower-casing, only empty, 0, false, no and off mean
 * "not halted". Everything else — 1, true, yes, on, and every typo such as `flase` — halts.
 */
export function parseHaltedParam(raw: string | undefined): { halted: boolean; raw: string } {
  const value = raw ?? '';
  return { halted: !NOT_HALTED_WORDS.has(value.trim().toLowerCase()), raw: value };
}

export function decideKillSwitch(documentData: unknown, haltedParam: string | undefined): KillSwitchState {
  const doc = parseKillSwitchDocument(documentData);
  const param = parseHaltedParam(haltedParam);
  const reasons: string[] = [];
  const sources: KillSwitchSource[] = [];

  if (!doc.ok) {
    sources.push(KillSwitchSource.document);
    reasons.push(`${doc.problem}; halted until an operator writes halted: false`);
  } else if (doc.halted) {
    sources.push(KillSwitchSource.document);
    reasons.push(`ops/killSwitch is halted${doc.reason ? `: ${doc.reason}` : ''}${doc.updatedBy ? ` (by ${doc.updatedBy})` : ''}`);
  }
  if (param.halted) {
    sources.push(KillSwitchSource.param);
    reasons.push(`EXECUTION_HALTED=${JSON.stringify(param.raw)} halts execution`);
  }
  const halted = sources.length > 0;
  return {
    halted,
    reduceOnly: !halted && doc.ok && doc.reduceOnly,
    reason: reasons.length ? reasons.join('; ') : null,
    sources,
    document: doc.ok ? { reason: doc.reason, updatedBy: doc.updatedBy, updatedAtMs: doc.updatedAtMs } : null,
  };
}
