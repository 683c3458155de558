import { DocumentReference, GeoPoint, Timestamp, type DocumentSnapshot } from 'firebase-admin/firestore';

/**
 * The JSON form of a Firestore document event (`google.events.cloud.firestore.v1.DocumentEventData`
 * in proto3 JSON): what the Firebase emulator suite sends with `datacontenttype:
 * application/json`, and what firebase-functions turns back into snapshots with
 * `firestore.snapshot_(…, 'json')`. Values use the Firestore REST encoding.
 *
 * One known loss: firebase-admin hands us numbers, so a stored double with an integral value
 * (5.0) is sent as `integerValue` — both read back as the JS number 5.
 */

export type JsonValue =
  | { nullValue: null }
  | { booleanValue: boolean }
  | { integerValue: string }
  | { doubleValue: number | string }
  | { stringValue: string }
  | { timestampValue: string }
  | { bytesValue: string }
  | { referenceValue: string }
  | { geoPointValue: { latitude: number; longitude: number } }
  | { arrayValue: { values: JsonValue[] } }
  | { mapValue: { fields: Record<string, JsonValue> } };

export interface JsonDocument {
  name: string;
  fields: Record<string, JsonValue>;
  createTime: string;
  updateTime: string;
}

/** RFC 3339 with all nine fraction digits, so nanoseconds survive. */
export function timestampJson(t: Timestamp): string {
  const base = new Date(t.seconds * 1000).toISOString().slice(0, 19);
  return `${base}.${String(t.nanoseconds).padStart(9, '0')}Z`;
}

export function valueJson(v: unknown, databaseName: string): JsonValue {
  if (v === null || v === undefined) return { nullValue: null };
  if (typeof v === 'boolean') return { booleanValue: v };
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) return { integerValue: String(v) };
    return { doubleValue: Number.isFinite(v) ? v : String(v) };
  }
  if (typeof v === 'bigint') return { integerValue: v.toString() };
  if (typeof v === 'string') return { stringValue: v };
  if (v instanceof Timestamp) return { timestampValue: timestampJson(v) };
  if (v instanceof Date) return { timestampValue: timestampJson(Timestamp.fromDate(v)) };
  if (v instanceof GeoPoint) return { geoPointValue: { latitude: v.latitude, longitude: v.longitude } };
  if (v instanceof DocumentReference) return { referenceValue: `${databaseName}/documents/${v.path}` };
  if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return { arrayValue: { values: v.map((x) => valueJson(x, databaseName)) } };
  if (typeof v === 'object') return { mapValue: { fields: fieldsJson(v as Record<string, unknown>, databaseName) } };
  throw new Error(`cannot encode a ${typeof v} as a Firestore value`);
}

export function fieldsJson(data: Record<string, unknown>, databaseName: string): Record<string, JsonValue> {
  return Object.fromEntries(Object.entries(data).map(([k, x]) => [k, valueJson(x, databaseName)]));
}

/** The document as the event carries it, or undefined when it does not exist. */
export function documentJson(snap: DocumentSnapshot, databaseName: string): JsonDocument | undefined {
  if (!snap.exists || !snap.createTime || !snap.updateTime) return undefined;
  return {
    name: `${databaseName}/documents/${snap.ref.path}`,
    fields: fieldsJson(snap.data() ?? {}, databaseName),
    createTime: timestampJson(snap.createTime),
    updateTime: timestampJson(snap.updateTime),
  };
}
