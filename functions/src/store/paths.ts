/** Firestore paths of the data contract (DESIGN.md). Changing one is a breaking change. */
export const KILL_SWITCH_PATH = 'ops/killSwitch';
export const SUBMISSIONS = 'submissions';
export const STRATEGIES = 'strategies';
export const INVALID_INTENTS = 'invalidIntents';
