/**
 * One Pub/Sub delivery as the pipeline sees it, independent of how it arrived (a CloudEvent
 * through firebase-functions in production, a test, the local stack). `eventId` is the same on
 * every redelivery of one message.
 */
export interface IntentDelivery {
  eventId: string;
  messageId: string | null;
  publishTime: string | null;
  /** The message data, base64 as Pub/Sub carries it; absent for an empty message. */
  dataBase64: string | undefined;
  attributes: Record<string, string>;
}

export function decodeMessageData(dataBase64: string | undefined): string {
  if (dataBase64 === undefined || dataBase64 === '') return '';
  return Buffer.from(dataBase64, 'base64').toString('utf8');
}

/**
 * `invalidIntents/{eventId}`: a Firestore document id may not contain `/`, be `.` or `..`, match
 * `__.*__` (reserved), or exceed 1500 bytes. Pub/Sub ids are digits, but the id comes from
 * outside: make it safe. A lone UTF-16 surrogate is replaced first (`encodeURIComponent` would
 * throw on it, and the message would be redelivered for a day, never kept).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function invalidIntentDocId(eventId: string): string {
  const wellFormed = eventId.replace(LONE_SURROGATE, '\uFFFD');
  const reserved = wellFormed === '.' || wellFormed === '..' || wellFormed === '' || /^__.*__$/s.test(wellFormed);
  return encodeURIComponent(reserved ? `id:${wellFormed}` : wellFormed).slice(0, 1500);
}
