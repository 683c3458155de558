import type { App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';

/**
 * firebase-admin's Firestore of `app`, on the emulator at `host` whatever FIRESTORE_EMULATOR_HOST
 * says: @google-cloud/firestore lets that variable override `settings({ host })`, reading it at
 * the moment settings are applied, so it is pointed at `host` for exactly that moment.
 */
export function firestoreAt(app: App, host: string): Firestore {
  const saved = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = host;
  try {
    const db = getFirestore(app);
    db.settings({ host, ssl: false });
    return db;
  } finally {
    if (saved === undefined) delete process.env.FIRESTORE_EMULATOR_HOST;
    else process.env.FIRESTORE_EMULATOR_HOST = saved;
  }
}
