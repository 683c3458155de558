/** Firestore paths of the data contract (DESIGN.md). Changing one is a breaking change. */
export const KILL_SWITCH_PATH = 'ops/killSwitch';
export const SUBMISSIONS = 'submissions';
export const STRATEGIES = 'strategies';
export const INVALID_INTENTS = 'invalidIntents';
/** The reconciler's last run summary (reconcileSubmissions writes, the ops status reads). */
export const RECONCILER_STATUS_PATH = 'ops/reconciler';
/** What each function instance runs with (written on its first invocation; never secrets). */
export const FUNCTION_INSTANCES = 'functionInstances';
/** The fills ledger's cursor and sync state (syncFills writes, every claim reads it in its batched read). */
export const FILLS_CURSOR_PATH = 'ops/fillsCursor';
/** Fills of haltgate's orders that could not be read, kept with the reason (functions only; operators resolve). */
export const FILLS_QUARANTINE = 'fillsQuarantine';
