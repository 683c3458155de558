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
 * `invalidIntents/{eventId}`: a Firestore document id may not contain `/`, be `.` or `..`, or
 * exceed 1500 bytes. Pub/Sub ids are digits, but the id comes from outside: make it safe.
 */
export function invalidIntentDocId(eventId: string): string {
  const safe = eventId === '.' || eventId === '..' || eventId === '' ? `id:${eventId}` : eventId;
  return encodeURIComponent(safe).slice(0, 1500);
}
