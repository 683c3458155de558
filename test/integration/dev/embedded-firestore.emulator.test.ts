import * as grpc from '@grpc/grpc-js';
import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { FieldValue, Timestamp, getFirestore, type Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  startEmbeddedFirestore,
  useFirestoreEmulator,
  type EmbeddedFirestore,
} from '../../../dev/firestore/embedded-firestore.js';
import { firestoreClientConstructor } from '../../../dev/firestore/proto.js';

const PROJECT = 'demo-embedded-firestore-test';
const DB = `projects/${PROJECT}/databases/(default)`;
const docName = (path: string): string => `${DB}/documents/${path}`;

let emu: EmbeddedFirestore;
let app: App;
let db: Firestore;
let previousHost: string | undefined;

beforeAll(async () => {
  emu = await startEmbeddedFirestore({ projectId: PROJECT });
  previousHost = process.env['FIRESTORE_EMULATOR_HOST'];
  process.env['FIRESTORE_EMULATOR_HOST'] = emu.host;
  app = initializeApp({ projectId: PROJECT }, `embedded-firestore-test-${process.pid}`);
  db = getFirestore(app);
});

afterAll(async () => {
  await deleteApp(app);
  await emu.stop();
  if (previousHost === undefined) delete process.env['FIRESTORE_EMULATOR_HOST'];
  else process.env['FIRESTORE_EMULATOR_HOST'] = previousHost;
});

beforeEach(async () => {
  await emu.reset();
  emu.stats.reset();
});

/** A raw gRPC client, to drive transactions step by step (firebase-admin hides the ids). */
function rawClient(host: string) {
  const Client = firestoreClientConstructor();
  const client = new Client(host, grpc.credentials.createInsecure());
  const unary = <Res>(method: string, req: object): Promise<Res> =>
    new Promise((resolve, reject) => {
      const fn = client[method] as unknown as (
        this: grpc.Client,
        req: object,
        cb: (err: grpc.ServiceError | null, res: Res) => void,
      ) => void;
      fn.call(client, req, (err, res) => (err ? reject(err) : resolve(res)));
    });
  const stream = <Res>(method: string, req: object): Promise<Res[]> =>
    new Promise((resolve, reject) => {
      const fn = client[method] as unknown as (this: grpc.Client, req: object) => grpc.ClientReadableStream<Res>;
      const out: Res[] = [];
      fn.call(client, req)
        .on('data', (m: Res) => out.push(m))
        .on('error', reject)
        .on('end', () => resolve(out));
    });
  return {
    begin: async () => (await unary<{ transaction: Buffer }>('BeginTransaction', { database: DB })).transaction,
    get: (path: string, transaction?: Buffer) =>
      stream<{ found?: { fields: Record<string, { integerValue?: string }> }; missing?: string }>('BatchGetDocuments', {
        database: DB,
        documents: [docName(path)],
        ...(transaction ? { transaction } : {}),
      }),
    setN: (path: string, n: number, transaction?: Buffer) =>
      unary<{ commitTime: unknown }>('Commit', {
        database: DB,
        writes: [{ update: { name: docName(path), fields: { n: { integerValue: String(n) } } } }],
        ...(transaction ? { transaction } : {}),
      }),
    close: () => client.close(),
  };
}

async function expectAborted(p: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as grpc.ServiceError,
  );
  expect(err, 'expected the commit to be ABORTED').not.toBeNull();
  expect(err?.code).toBe(grpc.status.ABORTED);
  expect(err?.details).toMatch(message);
}

describe('transactions are serialisable', () => {
  it('20 concurrent increments of one counter end at exactly 20, all resolving', async () => {
    const ref = db.doc('counters/c');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        db.runTransaction(async (tx) => {
          const snap = await tx.get(ref);
          tx.set(ref, { n: ((snap.get('n') as number | undefined) ?? 0) + 1 });
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect((await ref.get()).get('n')).toBe(20);
    // The locks queue the contenders: nobody was aborted and retried (no rollback, one commit each).
    expect(emu.stats.counts['Commit']).toBe(20);
    expect(emu.stats.counts['Rollback']).toBeUndefined();
  });

  it('10 concurrent claim-if-absent transactions: one claim, one winner, all resolve', async () => {
    const ref = db.doc('claims/intent-1');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        db.runTransaction(async (tx) => {
          const snap = await tx.get(ref);
          if (snap.exists) return false;
          tx.create(ref, { owner: `claimant-${i}` });
          return true;
        }),
      ),
    );
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    const won = results.map((r, i) => (r.status === 'fulfilled' && r.value ? i : -1)).filter((i) => i >= 0);
    expect(won).toHaveLength(1);
    expect((await ref.get()).get('owner')).toBe(`claimant-${won[0]}`);
    expect(emu.stats.counts['Rollback']).toBeUndefined();
  });

  it('transactions locking two documents in opposite orders neither deadlock nor lose updates', async () => {
    const a = db.doc('pairs/a');
    const b = db.doc('pairs/b');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        db.runTransaction(async (tx) => {
          const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
          const s1 = await tx.get(first);
          const s2 = await tx.get(second);
          tx.set(first, { n: ((s1.get('n') as number | undefined) ?? 0) + 1 });
          tx.set(second, { n: ((s2.get('n') as number | undefined) ?? 0) + 1 });
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect((await a.get()).get('n')).toBe(10);
    expect((await b.get()).get('n')).toBe(10);
  });

  it('a query inside a transaction is serialised too (count-then-create stays under its cap)', async () => {
    const slots = db.collection('slots');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        db.runTransaction(async (tx) => {
          const active = await tx.get(slots.where('state', '==', 'active').count());
          if (active.data().count >= 3) return false;
          tx.create(slots.doc(`s${i}`), { state: 'active' });
          return true;
        }),
      ),
    );
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect((await slots.get()).size).toBe(3);
  });

  it('the version check aborts a commit whose read went stale (firebase-admin then retries)', async () => {
    // A non-transactional write takes no lock, so only the version check stands between it and
    // a lost update.
    const ref = db.doc('counters/stale');
    let attempts = 0;
    await db.runTransaction(async (tx) => {
      attempts += 1;
      const snap = await tx.get(ref);
      if (attempts === 1) await ref.set({ n: 100 });
      tx.set(ref, { n: ((snap.get('n') as number | undefined) ?? 0) + 1 });
    });
    expect(attempts).toBe(2);
    expect((await ref.get()).get('n')).toBe(101);
  });

  it('raw protocol: a commit answers ABORTED when a document it read was modified or created', async () => {
    const raw = rawClient(emu.host);
    try {
      await raw.setN('raw/x', 1);
      const t1 = await raw.begin();
      expect((await raw.get('raw/x', t1))[0]?.found?.fields['n']?.integerValue).toBe('1');
      await raw.setN('raw/x', 2); // lost update if t1 could commit
      await expectAborted(raw.setN('raw/x', 10, t1), /raw\/x was modified after this transaction read it/);
      expect((await raw.get('raw/x'))[0]?.found?.fields['n']?.integerValue).toBe('2');

      // Absent when read = version 0: a concurrent create must conflict.
      const t2 = await raw.begin();
      expect((await raw.get('raw/y', t2))[0]?.missing).toBe(docName('raw/y'));
      await raw.setN('raw/y', 5);
      await expectAborted(raw.setN('raw/y', 1, t2), /raw\/y was created after this transaction read it/);

      // A transaction ends with its commit (a second commit is refused), and a new one works.
      await expectAborted(raw.setN('raw/y', 1, t2), /no longer active/);
      const t3 = await raw.begin();
      await raw.get('raw/y', t3);
      await raw.setN('raw/y', 6, t3);
      expect((await raw.get('raw/y'))[0]?.found?.fields['n']?.integerValue).toBe('6');
    } finally {
      raw.close();
    }
  });

  it('an abandoned transaction is expired: its locks are released and its commit is ABORTED', async () => {
    const own = await startEmbeddedFirestore({ projectId: PROJECT, transactionTimeoutMs: 300 });
    const raw = rawClient(own.host);
    try {
      const abandoned = await raw.begin();
      await raw.get('locks/d', abandoned); // holds the lock on locks/d
      const waiter = await raw.begin();
      const started = Date.now();
      await raw.get('locks/d', waiter); // waits for the expiry
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      await raw.setN('locks/d', 1, waiter);
      await expectAborted(raw.setN('locks/d', 2, abandoned), /expired/);
      expect((await raw.get('locks/d'))[0]?.found?.fields['n']?.integerValue).toBe('1');
    } finally {
      raw.close();
      await own.stop();
    }
  });
});

describe('reset and stats', () => {
  it('reset() deletes every document, nested ones included', async () => {
    await db.doc('a/1').set({ x: 1 });
    await db.doc('a/1/sub/2').set({ y: 2 });
    await db.doc('b/3').set({ z: 3 });
    await emu.reset();
    expect((await db.doc('a/1').get()).exists).toBe(false);
    expect((await db.collectionGroup('sub').get()).size).toBe(0);
    expect(await db.listCollections()).toEqual([]);
  });

  it('counts RPCs by method: one read = one BatchGetDocuments, one transaction = read + Commit', async () => {
    await db.doc('a/1').set({ x: 1 });
    expect(emu.stats.counts).toEqual({ Commit: 1 });
    emu.stats.reset();
    expect(emu.stats.total()).toBe(0);

    await db.doc('a/1').get();
    await db.collection('a').where('x', '==', 1).get();
    await db.collection('a').count().get();
    expect(emu.stats.counts).toEqual({ BatchGetDocuments: 1, RunQuery: 1, RunAggregationQuery: 1 });

    emu.stats.reset();
    await db.runTransaction(async (tx) => {
      const snap = await tx.get(db.doc('a/1'));
      tx.update(snap.ref, { x: 2 });
    });
    // firebase-admin starts the transaction lazily inside the first read.
    expect(emu.stats.counts).toEqual({ BatchGetDocuments: 1, Commit: 1 });
    expect(emu.stats.total()).toBe(2);
    expect(emu.commitLog.entries().at(-1)).toMatchObject({ writes: ['a/1'], transactional: true });
  });
});

describe('write semantics', () => {
  it('set() replaces the document, merge and FieldValue transforms behave like Firestore', async () => {
    const ref = db.doc('w/1');
    await ref.set({ a: 1, b: 2, nested: { x: 1, y: 1 } });
    await ref.set({ a: 3 });
    expect((await ref.get()).data()).toEqual({ a: 3 });

    await ref.set({ nested: { x: 2 } }, { merge: true });
    await ref.update({ a: FieldValue.delete(), 'nested.y': 5, n: FieldValue.increment(2), tags: FieldValue.arrayUnion('t') });
    expect((await ref.get()).data()).toEqual({ nested: { x: 2, y: 5 }, n: 2, tags: ['t'] });

    await expect(db.doc('w/missing').update({ a: 1 })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(ref.create({ a: 1 })).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
  });
});

describe('query shapes the project uses', () => {
  const t = (ms: number): Timestamp => Timestamp.fromMillis(1_700_000_000_000 + ms);

  beforeEach(async () => {
    const batch = db.batch();
    const rows: [string, string, number | null, number, string][] = [
      ['s1', 'submitting', 10, 100, 'alpha'],
      ['s2', 'unknown', 20, 200, 'beta'],
      ['s3', 'submitted', 30, 300, 'alpha'],
      ['s4', 'submitting', 40, 400, 'beta'],
      ['s5', 'refused', null, 500, 'alpha'],
      ['s6', 'submitting', 60, 600, 'alpha'],
    ];
    for (const [id, state, claimed, updated, strategyId] of rows) {
      batch.set(db.doc(`submissions/${id}`), {
        state,
        claimedAt: claimed === null ? null : t(claimed),
        updatedAt: t(updated),
        intent: { strategyId, symbol: 'AAPL' },
      });
    }
    await batch.commit();
  });

  const ids = async (q: FirebaseFirestore.Query): Promise<string[]> => (await q.get()).docs.map((d) => d.id);
  const submissions = (): FirebaseFirestore.CollectionReference => db.collection('submissions');

  it("where('state', '==', ...)", async () => {
    expect(await ids(submissions().where('state', '==', 'submitting'))).toEqual(['s1', 's4', 's6']);
  });

  it("where('state', 'in', ['submitting', 'unknown'])", async () => {
    expect(await ids(submissions().where('state', 'in', ['submitting', 'unknown']))).toEqual(['s1', 's2', 's4', 's6']);
  });

  it('Timestamp range + orderBy + limit (null claimedAt is not in a Timestamp range)', async () => {
    expect(await ids(submissions().where('claimedAt', '<', t(45)).orderBy('claimedAt').limit(2))).toEqual(['s1', 's2']);
    expect(await ids(submissions().where('claimedAt', '>=', t(20)).orderBy('claimedAt', 'desc').limit(2))).toEqual(['s6', 's4']);
    expect(await ids(submissions().where('updatedAt', '<', t(450)).orderBy('updatedAt', 'desc'))).toEqual(['s4', 's3', 's2', 's1']);
  });

  it('equality + range + orderBy + limit combined', async () => {
    const q = submissions().where('state', '==', 'submitting').where('updatedAt', '<=', t(400)).orderBy('updatedAt').limit(5);
    expect(await ids(q)).toEqual(['s1', 's4']);
    const q2 = submissions().where('state', 'in', ['submitting', 'unknown']).where('claimedAt', '>', t(15)).orderBy('claimedAt').limit(2);
    expect(await ids(q2)).toEqual(['s2', 's4']);
  });

  it('count() with a range filter', async () => {
    expect((await submissions().where('updatedAt', '>=', t(300)).count().get()).data().count).toBe(4);
    expect((await submissions().where('claimedAt', '<', t(35)).where('state', '==', 'submitting').count().get()).data().count).toBe(1);
  });

  it('where on a nested field (intent.strategyId), and orderBy on it', async () => {
    expect(await ids(submissions().where('intent.strategyId', '==', 'beta'))).toEqual(['s2', 's4']);
    // Ties are ordered by document id, in the direction of the last orderBy.
    expect(await ids(submissions().orderBy('intent.strategyId', 'desc').limit(2))).toEqual(['s4', 's2']);
  });

  it('collection-group query reaches subcollections at any depth', async () => {
    await db.doc('strategies/alpha/fills/f1').set({ qty: 1 });
    await db.doc('strategies/beta/fills/f2').set({ qty: 2 });
    await db.doc('fills/top').set({ qty: 3 });
    expect(await ids(db.collectionGroup('fills').where('qty', '>=', 2).orderBy('qty'))).toEqual(['f2', 'top']);
  });

  it('onSnapshot on one document sees a later update and a delete', async () => {
    const ref = db.doc('ops/killSwitch');
    await ref.set({ halted: false });
    const seen: (boolean | undefined)[] = [];
    let notify: () => void = () => {};
    const unsubscribe = ref.onSnapshot((snap) => {
      seen.push(snap.exists ? (snap.get('halted') as boolean) : undefined);
      notify();
    });
    const waitFor = (n: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`saw ${JSON.stringify(seen)}`)), 5_000);
        notify = () => {
          if (seen.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        notify();
      });
    try {
      await waitFor(1);
      await ref.set({ halted: true });
      await waitFor(2);
      await ref.delete();
      await waitFor(3);
      expect(seen).toEqual([false, true, undefined]);
      expect(emu.stats.counts['Listen']).toBe(1);
    } finally {
      unsubscribe();
    }
  });
});

describe('useFirestoreEmulator', () => {
  it('uses the emulator named by FIRESTORE_EMULATOR_HOST (reset works on it)', async () => {
    await db.doc('u/1').set({ x: 1 });
    const handle = await useFirestoreEmulator({ projectId: PROJECT });
    expect(handle).toMatchObject({ host: emu.host, external: true });
    if (!('external' in handle)) throw new Error('expected the external handle');
    await handle.reset();
    expect((await db.doc('u/1').get()).exists).toBe(false);
    await handle.stop();
  });

  it('otherwise starts an embedded one and sets FIRESTORE_EMULATOR_HOST until stop()', async () => {
    delete process.env['FIRESTORE_EMULATOR_HOST'];
    try {
      const handle = await useFirestoreEmulator({ projectId: PROJECT });
      expect('external' in handle).toBe(false);
      expect(process.env['FIRESTORE_EMULATOR_HOST']).toBe(handle.host);
      expect(handle.host).toMatch(/^127\.0\.0\.1:\d+$/);
      await handle.stop();
      expect(process.env['FIRESTORE_EMULATOR_HOST']).toBeUndefined();
    } finally {
      process.env['FIRESTORE_EMULATOR_HOST'] = emu.host;
    }
  });
});
