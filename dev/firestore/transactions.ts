/**
 * Serialisable transactions for the embedded Firestore.
 *
 * Two mechanisms, like production Firestore for server SDKs:
 *
 * 1. Pessimistic locks (contention control). A read-write transaction takes an exclusive lock
 *    on every document it reads by name (present or absent) and, for a query, on the queried
 *    collection (or collection group) and on the documents in the result. A transaction that
 *    wants a lock held by another one waits; a released lock goes to the oldest waiter.
 *    Deadlocks are detected on the wait-for graph whenever it changes, and broken by aborting
 *    the youngest transaction of the cycle. Age = start order, inherited by a retry that names
 *    the previous attempt in `retryTransaction` (firebase-admin does), so a transaction that
 *    keeps losing becomes the oldest and then always wins: firebase-admin's 5 attempts suffice.
 *
 * 2. Optimistic validation (the safety net). Every read records the document's version (this
 *    emulator's own per-document counter, bumped by every write including creates and deletes;
 *    0 for a never-written document) and every query records a signature of its result. A
 *    Commit is rejected with ABORTED when any of them changed since — e.g. because a
 *    non-transactional write (which takes no lock) touched a document the transaction read.
 *
 * Expiry: a transaction that has held locks for more than `timeoutMs`, or that sits idle (no
 * lock held, none awaited) for `timeoutMs` after its start, is expired: its locks are released
 * and its commit answers ABORTED, so a killed client can't block others for longer than that.
 */
import { randomBytes } from 'node:crypto';
import { aborted, invalidArgument } from './errors.js';
import type { TransactionOptions } from './proto.js';

export interface Txn {
  readonly id: Buffer;
  readonly key: string;
  /** Lower = older = wins conflicts. */
  readonly priority: number;
  readonly readWrite: boolean;
  state: 'active' | 'ended';
  endReason?: string;
  /** document name → version seen by the first read. */
  readonly docReads: Map<string, number>;
  readonly queryReads: QueryRead[];
  readonly locks: Set<string>;
  readonly waiting: Set<Waiter>;
  /** When it first got a lock (Date.now()). */
  firstLockAt?: number;
  timer?: NodeJS.Timeout;
}

export interface QueryRead {
  describe: string;
  signature: string;
  recompute: () => string;
}

interface Waiter {
  txn: Txn;
  key: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface LockState {
  holder: Txn;
  /** Sorted by priority, oldest first. */
  waiters: Waiter[];
}

interface Ended {
  priority: number;
  reason: string;
}

const MAX_ENDED = 10_000;

export interface TransactionManagerOptions {
  /** Lifetime of an open transaction before it is expired and its locks released. */
  timeoutMs: number;
}

export class TransactionManager {
  private readonly active = new Map<string, Txn>();
  private readonly ended = new Map<string, Ended>();
  private readonly locks = new Map<string, LockState>();
  private nextPriority = 1;
  private resolving = false;

  constructor(private readonly opts: TransactionManagerOptions) {}

  begin(options: TransactionOptions | undefined): Txn {
    const readWrite = options?.readOnly === undefined;
    let priority: number | undefined;
    const retry = options?.readWrite?.retryTransaction;
    if (retry && retry.length > 0) {
      const key = Buffer.from(retry).toString('hex');
      priority = this.active.get(key)?.priority ?? this.ended.get(key)?.priority;
      // A retry ends the previous attempt (firebase-admin's rollback is fire-and-forget).
      const prev = this.active.get(key);
      if (prev) this.end(prev, 'superseded by its retry');
    }
    const id = randomBytes(16);
    const txn: Txn = {
      id,
      key: id.toString('hex'),
      priority: priority ?? this.nextPriority++,
      readWrite,
      state: 'active',
      docReads: new Map(),
      queryReads: [],
      locks: new Set(),
      waiting: new Set(),
    };
    this.active.set(txn.key, txn);
    this.arm(txn, this.opts.timeoutMs);
    return txn;
  }

  private arm(txn: Txn, ms: number): void {
    txn.timer = setTimeout(() => this.checkExpiry(txn), Math.max(1, ms));
    txn.timer.unref();
  }

  private checkExpiry(txn: Txn): void {
    if (txn.state !== 'active') return;
    const limit = this.opts.timeoutMs;
    if (txn.firstLockAt !== undefined && txn.locks.size > 0) {
      const held = Date.now() - txn.firstLockAt;
      if (held >= limit) this.end(txn, `expired: held locks for more than ${limit} ms without committing or rolling back`);
      else this.arm(txn, limit - held);
    } else if (txn.waiting.size > 0) {
      this.arm(txn, limit); // waiting for its first lock: whoever holds it expires first
    } else {
      this.end(txn, `expired: idle for more than ${limit} ms`);
    }
  }

  /** Looks up an open transaction; ABORTED (retryable) when it ended or is unknown. */
  get(id: Uint8Array): Txn {
    const key = Buffer.from(id).toString('hex');
    const txn = this.active.get(key);
    if (txn) return txn;
    const ended = this.ended.get(key);
    if (ended) throw aborted(`Transaction ${key.slice(0, 8)} is no longer active (${ended.reason}); retry the transaction.`);
    throw aborted(`Unknown transaction ${key.slice(0, 8)} (transaction has expired or was never begun); retry the transaction.`);
  }

  activeCount(): number {
    return this.active.size;
  }

  /** Acquires the exclusive lock `key` for `txn`, waiting as needed (ABORTED if chosen as a deadlock victim). */
  acquire(txn: Txn, key: string, signal?: AbortSignal): Promise<void> {
    if (txn.state !== 'active') return Promise.reject(this.endedError(txn));
    const lock = this.locks.get(key);
    if (!lock) {
      this.locks.set(key, { holder: txn, waiters: [] });
      this.granted(txn, key);
      return Promise.resolve();
    }
    if (lock.holder === txn) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { txn, key, resolve, reject };
      const at = lock.waiters.findIndex((w) => w.txn.priority > txn.priority);
      if (at < 0) lock.waiters.push(waiter);
      else lock.waiters.splice(at, 0, waiter);
      txn.waiting.add(waiter);
      if (signal) {
        const onAbort = (): void => {
          if (!txn.waiting.has(waiter)) return;
          // The client went away while waiting: the transaction can't continue.
          this.end(txn, 'its client cancelled a read that was waiting for a lock');
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      this.resolveDeadlocks();
    });
  }

  private granted(txn: Txn, key: string): void {
    txn.locks.add(key);
    txn.firstLockAt ??= Date.now();
  }

  /** Aborts the youngest transaction of every cycle in the wait-for graph. */
  private resolveDeadlocks(): void {
    if (this.resolving) return; // the outer call loops until no cycle is left
    this.resolving = true;
    try {
      for (let cycle = this.findCycle(); cycle; cycle = this.findCycle()) {
        const victim = cycle.reduce((a, b) => (a.priority > b.priority ? a : b));
        const locks = [...victim.waiting].map((w) => describeLock(w.key)).join(', ');
        this.end(victim, `aborted to break a deadlock: it waited for ${locks} held by an older transaction that waited for it`);
      }
    } finally {
      this.resolving = false;
    }
  }

  /** A cycle of transactions each waiting for a lock held by the next, if any. */
  private findCycle(): Txn[] | undefined {
    const state = new Map<Txn, 'open' | 'done'>();
    const stack: Txn[] = [];
    const visit = (t: Txn): Txn[] | undefined => {
      state.set(t, 'open');
      stack.push(t);
      for (const w of t.waiting) {
        const holder = this.locks.get(w.key)?.holder;
        if (!holder || holder === t) continue;
        const s = state.get(holder);
        if (s === 'open') return stack.slice(stack.indexOf(holder));
        if (s === undefined) {
          const found = visit(holder);
          if (found) return found;
        }
      }
      stack.pop();
      state.set(t, 'done');
      return undefined;
    };
    for (const t of this.active.values()) {
      if (t.waiting.size === 0 || state.has(t)) continue;
      const found = visit(t);
      if (found) return found;
    }
    return undefined;
  }

  holds(txn: Txn, key: string): boolean {
    return txn.locks.has(key);
  }

  recordDocRead(txn: Txn, name: string, version: number): void {
    if (!txn.docReads.has(name)) txn.docReads.set(name, version);
  }

  recordQueryRead(txn: Txn, read: QueryRead): void {
    txn.queryReads.push(read);
  }

  /**
   * Checks that everything `txn` read is unchanged. Throws ABORTED (and ends the transaction)
   * otherwise. Must be called in the same synchronous block as the commit's writes.
   */
  validate(txn: Txn, versionOf: (name: string) => number, relative: (name: string) => string): void {
    if (txn.state !== 'active') throw this.endedError(txn);
    if (!txn.readWrite) return;
    for (const [name, seen] of txn.docReads) {
      const now = versionOf(name);
      if (now !== seen) {
        const reason =
          `document ${relative(name)} was ${seen === 0 ? 'created' : 'modified'} after this transaction read it ` +
          `(version read ${seen}, current ${now})`;
        this.end(txn, `aborted at commit: ${reason}`);
        throw aborted(`Transaction aborted: ${reason}. Retry the transaction.`);
      }
    }
    for (const q of txn.queryReads) {
      if (q.recompute() !== q.signature) {
        const reason = `the result of ${q.describe} changed after this transaction ran it`;
        this.end(txn, `aborted at commit: ${reason}`);
        throw aborted(`Transaction aborted: ${reason}. Retry the transaction.`);
      }
    }
  }

  /** Ends a transaction (commit, rollback, abort, expiry): releases its locks, wakes waiters. */
  end(txn: Txn, reason: string): void {
    if (txn.state !== 'active') return;
    txn.state = 'ended';
    txn.endReason = reason;
    if (txn.timer) clearTimeout(txn.timer);
    this.active.delete(txn.key);
    this.ended.set(txn.key, { priority: txn.priority, reason });
    if (this.ended.size > MAX_ENDED) {
      const oldest = this.ended.keys().next().value;
      if (oldest !== undefined) this.ended.delete(oldest);
    }
    for (const w of txn.waiting) {
      const lock = this.locks.get(w.key);
      if (lock) lock.waiters = lock.waiters.filter((x) => x !== w);
      w.reject(this.endedError(txn));
    }
    txn.waiting.clear();
    for (const key of txn.locks) this.release(key, txn);
    txn.locks.clear();
    // Lock transfers add wait-for edges (the other waiters now wait for the new holder).
    this.resolveDeadlocks();
  }

  rollback(id: Uint8Array): void {
    const txn = this.active.get(Buffer.from(id).toString('hex'));
    if (txn) this.end(txn, 'rolled back');
  }

  /** Ends every open transaction (database reset, shutdown). */
  endAll(reason: string): void {
    for (const txn of [...this.active.values()]) this.end(txn, reason);
  }

  assertReadWrite(txn: Txn): void {
    if (!txn.readWrite) throw invalidArgument('Cannot modify entities in a read-only transaction');
  }

  private release(key: string, holder: Txn): void {
    const lock = this.locks.get(key);
    if (!lock || lock.holder !== holder) return;
    const next = lock.waiters.shift();
    if (!next) {
      this.locks.delete(key);
      return;
    }
    lock.holder = next.txn;
    next.txn.waiting.delete(next);
    this.granted(next.txn, key);
    next.resolve();
  }

  private endedError(txn: Txn): Error {
    return aborted(`Transaction ${txn.key.slice(0, 8)} is no longer active (${txn.endReason ?? 'ended'}); retry the transaction.`);
  }
}

export function docLockKey(name: string): string {
  return `doc:${name}`;
}

export function queryLockKey(parent: string, collectionId: string, allDescendants: boolean): string {
  return allDescendants ? `group:${parent}|${collectionId}` : `query:${parent}/${collectionId}`;
}

function describeLock(key: string): string {
  const i = key.indexOf('/documents/');
  return i >= 0 ? `${key.slice(0, key.indexOf(':') + 1)}${key.slice(i + '/documents/'.length)}` : key;
}
