/**
 * The Listen RPC (onSnapshot): document targets and query targets, with the message sequence
 * the Node SDK's watch expects — ADD, [RESET on resume], document changes, CURRENT, then a
 * global NO_CHANGE carrying the read time; afterwards, per commit, the changes followed by a
 * global NO_CHANGE.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Document, ListenRequest, ListenResponse, StructuredQuery, Timestamp } from './proto.js';
import { projectionOf, runStructuredQuery } from './query.js';
import type { DocumentStore, StoredDoc } from './store.js';
import { toDocumentProto } from './store.js';

interface TargetState {
  id: number;
  documents?: string[];
  query?: { parent: string; structuredQuery: StructuredQuery };
  /** name → version last sent. */
  sent: Map<string, number>;
}

const HEARTBEAT_MS = 30_000;

class ListenStream {
  private readonly targets = new Map<number, TargetState>();
  private closed = false;

  constructor(
    private readonly call: ServerDuplexStream<ListenRequest, ListenResponse>,
    private readonly store: DocumentStore,
    private readonly onClose: (s: ListenStream) => void,
  ) {
    call.on('data', (req: ListenRequest) => {
      try {
        this.onRequest(req);
      } catch (err) {
        this.fail(err);
      }
    });
    call.on('end', () => this.close());
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
    call.on('close', () => this.close());
  }

  private send(msg: ListenResponse): void {
    if (!this.closed) this.call.write(msg);
  }

  private resumeToken(): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(this.store.sequence()));
    return b;
  }

  private results(t: TargetState): StoredDoc[] {
    if (t.documents) return t.documents.map((n) => this.store.get(n)).filter((d): d is StoredDoc => d !== undefined);
    const q = t.query as { parent: string; structuredQuery: StructuredQuery };
    return runStructuredQuery(this.store, q.parent, q.structuredQuery);
  }

  private docProto(t: TargetState, doc: StoredDoc): Document {
    return toDocumentProto(doc, t.query ? projectionOf(t.query.structuredQuery) : undefined);
  }

  private onRequest(req: ListenRequest): void {
    if (req.addTarget) {
      const add = req.addTarget;
      const id = add.targetId ?? 0;
      const t: TargetState = { id, sent: new Map() };
      if (add.documents) t.documents = add.documents.documents ?? [];
      else if (add.query) t.query = { parent: add.query.parent ?? '', structuredQuery: add.query.structuredQuery ?? {} };
      else throw new Error('Listen target has neither documents nor a query');
      this.targets.set(id, t);
      this.send({ targetChange: { targetChangeType: 'ADD', targetIds: [id] } });
      if (add.resumeToken && add.resumeToken.length > 0) {
        // We keep no history: make the client drop what it had and send everything again.
        this.send({ targetChange: { targetChangeType: 'RESET', targetIds: [id] } });
      }
      for (const doc of this.results(t)) {
        t.sent.set(doc.name, doc.version);
        this.send({ documentChange: { document: this.docProto(t, doc), targetIds: [id], removedTargetIds: [] } });
      }
      const readTime = this.store.clock.latest();
      this.send({ targetChange: { targetChangeType: 'CURRENT', targetIds: [id], resumeToken: this.resumeToken(), readTime } });
      this.heartbeat(readTime);
    }
    if (req.removeTarget !== undefined && req.removeTarget !== null && this.targets.has(req.removeTarget)) {
      this.targets.delete(req.removeTarget);
      this.send({ targetChange: { targetChangeType: 'REMOVE', targetIds: [req.removeTarget] } });
    }
  }

  /** A global "everything is consistent as of readTime" marker: makes the SDK raise a snapshot. */
  heartbeat(readTime: Timestamp): void {
    this.send({ targetChange: { targetChangeType: 'NO_CHANGE', targetIds: [], readTime, resumeToken: this.resumeToken() } });
  }

  /** Pushes the effect of a commit (documents `changed`) to every target. */
  onCommit(changed: readonly string[], readTime: Timestamp): void {
    if (this.closed) return;
    try {
      this.pushChanges(changed, readTime);
    } catch (err) {
      this.fail(err);
    }
  }

  private pushChanges(changed: readonly string[], readTime: Timestamp): void {
    let any = false;
    for (const t of this.targets.values()) {
      if (t.documents && !changed.some((n) => t.documents?.includes(n))) continue;
      const now = new Map<string, StoredDoc>();
      for (const doc of this.results(t)) now.set(doc.name, doc);
      for (const [name, doc] of now) {
        if (t.sent.get(name) === doc.version) continue;
        t.sent.set(name, doc.version);
        this.send({ documentChange: { document: this.docProto(t, doc), targetIds: [t.id], removedTargetIds: [] } });
        any = true;
      }
      for (const name of [...t.sent.keys()]) {
        if (now.has(name)) continue;
        t.sent.delete(name);
        const gone = { document: name, removedTargetIds: [t.id], readTime };
        this.send(this.store.get(name) ? { documentRemove: gone } : { documentDelete: gone });
        any = true;
      }
    }
    if (any) this.heartbeat(readTime);
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    for (const id of this.targets.keys()) {
      this.send({ targetChange: { targetChangeType: 'REMOVE', targetIds: [id], cause: { code: 3, message } } });
    }
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.targets.clear();
    this.onClose(this);
    try {
      this.call.end();
    } catch {
      // already gone
    }
  }
}

export class ListenHub {
  private readonly streams = new Set<ListenStream>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly store: DocumentStore) {
    this.timer = setInterval(() => {
      const readTime = this.store.clock.latest();
      for (const s of this.streams) s.heartbeat(readTime);
    }, HEARTBEAT_MS);
    this.timer.unref();
  }

  attach(call: ServerDuplexStream<ListenRequest, ListenResponse>): void {
    this.streams.add(new ListenStream(call, this.store, (s) => this.streams.delete(s)));
  }

  notify(changed: readonly string[], readTime: Timestamp): void {
    if (changed.length === 0) return;
    for (const s of [...this.streams]) s.onCommit(changed, readTime);
  }

  size(): number {
    return this.streams.size;
  }

  closeAll(): void {
    clearInterval(this.timer);
    for (const s of [...this.streams]) s.close();
  }
}
