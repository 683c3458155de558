import type { DiscoveredFunction } from './discover.js';

/**
 * EXTENSION POINT, not built yet: Firestore-triggered functions (e.g. an `onKillSwitchWrite`
 * audit trigger on `ops/killSwitch`). Eventarc would POST a `google.cloud.firestore.document.v1.*`
 * CloudEvent (protobuf `DocumentEventData` body) to the function for every matching write.
 *
 * The stack already starts such a function's process (signature `cloudevent`) and calls
 * `connectFirestoreTrigger` for it; to wire one up, implement this: listen to the document
 * pattern with firebase-admin `onSnapshot` against the embedded Firestore (or tap its commit
 * log), build the CloudEvent from before/after snapshots, and POST it to `url`.
 */
export interface FirestoreTriggerConnection {
  /** Whether events are actually delivered (false until this hook is implemented). */
  readonly wired: boolean;
  stop(): Promise<void>;
}

export function connectFirestoreTrigger(
  fn: DiscoveredFunction,
  _url: string,
  ctx: { firestoreHost: string; projectId: string; warn: (message: string) => void },
): FirestoreTriggerConnection {
  ctx.warn(`${fn.name}: Firestore triggers are not delivered by the local stack yet (dev/stack/firestore-triggers.ts)`);
  return { wired: false, stop: async () => {} };
}
