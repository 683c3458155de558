/** Firestore paths of the data contract (DESIGN.md). Changing one is a breaking change. */
export const KILL_SWITCH_PATH = 'ops/killSwitch';
export const SUBMISSIONS = 'submissions';
export const STRATEGIES = 'strategies';
export const INVALID_INTENTS = 'invalidIntents';
/** The reconciler's last run summary (reconcileSubmissions writes, the ops status reads). */
export const RECONCILER_STATUS_PATH = 'ops/reconciler';
/** What each function instance runs with (written on its first invocation; never secrets). */
export const FUNCTION_INSTANCES = 'functionInstances';
