/**
 * A thin gRPC interposer between a Firestore client and a Firestore server (the official
 * emulator, or any endpoint that speaks google.firestore.v1.Firestore): every call is passed
 * on byte for byte, and on the way it is counted per method and, on demand, delayed, failed
 * with a gRPC status, or left hanging. It stores nothing and answers nothing itself.
 *
 * Point a client at it with FIRESTORE_EMULATOR_HOST=<interposer.host> (or
 * `db.settings({ host, ssl: false })`). The emulator's REST endpoints (data reset, rules) are
 * plain HTTP on the emulator's own port and are not interposed.
 */
import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';

const SERVICE = 'google.firestore.v1.Firestore';

type Kind = 'unary' | 'server-stream' | 'bidi';

/** The methods of google.firestore.v1.Firestore and their streaming kinds. */
export const FIRESTORE_METHODS: Readonly<Record<string, Kind>> = {
  GetDocument: 'unary',
  ListDocuments: 'unary',
  CreateDocument: 'unary',
  UpdateDocument: 'unary',
  DeleteDocument: 'unary',
  BatchGetDocuments: 'server-stream',
  BeginTransaction: 'unary',
  Commit: 'unary',
  Rollback: 'unary',
  RunQuery: 'server-stream',
  RunAggregationQuery: 'server-stream',
  ExecutePipeline: 'server-stream',
  PartitionQuery: 'unary',
  Write: 'bidi',
  Listen: 'bidi',
  ListCollectionIds: 'unary',
  BatchWrite: 'unary',
};

export type FirestoreMethod = keyof typeof FIRESTORE_METHODS & string;

/** What happens to the next calls of a method before they are passed on. */
export interface MethodFault {
  /** Delay before the call is passed on, ms. */
  latencyMs?: number;
  /** Answer with this gRPC status instead of passing the call on (e.g. status.UNAVAILABLE). */
  failWith?: GrpcStatus;
  /** Neither pass on nor answer: the call hangs until the client gives up (or `clear`). */
  hang?: boolean;
  /** How many calls it applies to; unset = every call until cleared. */
  times?: number;
}

export interface InterposerStats {
  /** Calls per method since the last reset, counted as they arrive. */
  counts(): Record<string, number>;
  total(): number;
  reset(): void;
  /**
   * Calls received and not yet answered, ended or cancelled: unary and server-streaming ones
   * (the long-lived Listen and Write streams are not counted).
   */
  inFlight(): number;
  /**
   * Of those, the calls passed on to the emulator and not answered by it yet (a call held by a
   * `hang` fault is in flight but not passed on): what a restart of the emulator must let finish.
   */
  upstreamInFlight(): number;
  /** Resolves once no call is in flight (rejects after `timeoutMs`, default 10 s). */
  idle(timeoutMs?: number): Promise<void>;
}

/**
 * A Commit the server accepted, as seen on the wire: the documents its writes touch and the
 * commit time the server assigned (from the CommitResponse). Recorded when the answer passes
 * back, so a commit that failed, was never passed on, or whose client cancelled it before the
 * answer came back is not in the log.
 */
export interface CommittedWrite {
  /** Document paths relative to the database root, e.g. `submissions/abc`. */
  documents: string[];
  /** Whether the Commit carried a transaction id (the end of a read-write transaction). */
  transactional: boolean;
  /**
   * The documents whose write sets a server value (a field transform such as
   * `FieldValue.serverTimestamp()`): Write.update_transforms, or a transform write.
   */
  serverValues: string[];
  /** The server's commit time. */
  commitTime: { seconds: number; nanos: number };
  /** The commit time in microseconds (the server's resolution). */
  commitMicros: number;
}

export interface CommitLog {
  /** Accepted commits in the order their answers came back, since the last clear. */
  entries(): CommittedWrite[];
  /** The accepted commits that wrote `document` (a path relative to the database root). */
  writing(document: string): CommittedWrite[];
  clear(): void;
}

export interface FirestoreInterposer {
  /** host:port to give clients. */
  host: string;
  port: number;
  /** Where calls go. */
  upstream: string;
  stats: InterposerStats;
  commits: CommitLog;
  faults: {
    set(method: FirestoreMethod, fault: MethodFault): void;
    clear(method?: FirestoreMethod): void;
    /** How many calls each fault has acted on. */
    injected(): Record<string, number>;
  };
  stop(): Promise<void>;
}

const passthrough = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

function serviceDefinition(): ServiceDefinition {
  const def: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(FIRESTORE_METHODS)) {
    def[name] = {
      path: `/${SERVICE}/${name}`,
      requestStream: kind === 'bidi',
      responseStream: kind !== 'unary',
      originalName: name,
      ...passthrough,
    };
  }
  return def as ServiceDefinition;
}

/**
 * Ends a server-side stream with a gRPC status. grpc-js turns an 'error' event into the call's
 * status; `destroy()` would reset the stream without one, and the client would retry forever.
 */
function failStream(call: { emit(event: 'error', err: Error): boolean }, err: Partial<ServiceError>): void {
  call.emit('error', Object.assign(new Error(err.details ?? err.message ?? 'stream failed'), err));
}

function statusError(code: GrpcStatus, method: string): Partial<ServiceError> {
  return { code, details: `injected by the Firestore interposer: ${GrpcStatus[code]} on ${method}`, metadata: new Metadata() };
}

/**
 * The few protobuf fields the commit log reads, decoded from the wire format directly
 * (google.firestore.v1): CommitRequest { writes = 2: Write; transaction = 3 },
 * Write { update = 1: Document { name = 1 }; delete = 2: string; transform = 6:
 * DocumentTransform { document = 1; field_transforms = 2 }; update_transforms = 7 }, CommitResponse { commit_time = 2: Timestamp
 * { seconds = 1; nanos = 2 } }.
 */
type WireField = { field: number; varint?: bigint; bytes?: Buffer };

function wireFields(buf: Buffer): WireField[] {
  const out: WireField[] = [];
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const byte = buf[i++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wireType = key & 7;
    if (wireType === 0) out.push({ field, varint: varint() });
    else if (wireType === 2) {
      const len = Number(varint());
      out.push({ field, bytes: buf.subarray(i, i + len) });
      i += len;
    } else if (wireType === 1) i += 8;
    else if (wireType === 5) i += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
  }
  return out;
}

const stringField = (buf: Buffer, field: number): string | null => {
  const f = wireFields(buf).find((x) => x.field === field && x.bytes);
  return f ? f.bytes!.toString('utf8') : null;
};

/** `projects/p/databases/d/documents/a/b` → `a/b`. */
function relativeName(name: string): string {
  const at = name.indexOf('/documents/');
  return at === -1 ? name : name.slice(at + '/documents/'.length);
}

function decodeCommit(request: Buffer, response: Buffer): CommittedWrite {
  const documents: string[] = [];
  const serverValues: string[] = [];
  let transactional = false;
  for (const f of wireFields(request)) {
    if (f.field === 3 && f.bytes && f.bytes.length > 0) transactional = true;
    if (f.field !== 2 || !f.bytes) continue;
    const write = wireFields(f.bytes);
    let name: string | null = null;
    let setsServerValue = write.some((w) => w.field === 7);
    for (const w of write) {
      if (w.field === 1 && w.bytes) name = stringField(w.bytes, 1);
      else if (w.field === 2 && w.bytes) name = w.bytes.toString('utf8');
      else if (w.field === 6 && w.bytes) {
        name = stringField(w.bytes, 1);
        setsServerValue ||= wireFields(w.bytes).some((t) => t.field === 2);
      }
    }
    if (name === null) continue;
    const doc = relativeName(name);
    if (!documents.includes(doc)) documents.push(doc);
    if (setsServerValue && !serverValues.includes(doc)) serverValues.push(doc);
  }
  let seconds = 0;
  let nanos = 0;
  const time = wireFields(response).find((f) => f.field === 2 && f.bytes);
  if (time) {
    for (const t of wireFields(time.bytes!)) {
      if (t.field === 1) seconds = Number(t.varint ?? 0n);
      if (t.field === 2) nanos = Number(t.varint ?? 0n);
    }
  }
  return { documents, transactional, serverValues, commitTime: { seconds, nanos }, commitMicros: seconds * 1_000_000 + Math.floor(nanos / 1000) };
}

export async function startFirestoreInterposer(opts: { upstream: string; port?: number }): Promise<FirestoreInterposer> {
  const upstream = opts.upstream;
  const client = new Client(upstream, credentials.createInsecure());
  const counts: Record<string, number> = {};
  const faults = new Map<string, MethodFault>();
  const injected: Record<string, number> = {};
  const hanging = new Set<() => void>();
  const committed: CommittedWrite[] = [];
  let inFlight = 0;
  let upstreamInFlight = 0;
  /** Counts a call passed on; the returned function ends it (once). */
  const passedOn = () => {
    upstreamInFlight += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      upstreamInFlight -= 1;
    };
  };
  let idleWaiters: Array<() => void> = [];
  const callStarted = () => {
    inFlight += 1;
  };
  const callEnded = () => {
    inFlight -= 1;
    if (inFlight === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  /** The fault for this call (consuming one of `times`), or null. */
  const takeFault = (method: string): MethodFault | null => {
    const fault = faults.get(method);
    if (!fault) return null;
    if (fault.times !== undefined) {
      if (fault.times <= 1) faults.delete(method);
      else faults.set(method, { ...fault, times: fault.times - 1 });
    }
    injected[method] = (injected[method] ?? 0) + 1;
    return fault;
  };

  /**
   * Applies the method's fault: resolves true to pass the call on, false when the fault
   * answered it (or it hangs until `clear`, then it is passed on).
   */
  const beforeCall = async (method: string, answer: (err: Partial<ServiceError>) => void, cancelled: () => boolean): Promise<boolean> => {
    counts[method] = (counts[method] ?? 0) + 1;
    const fault = takeFault(method);
    if (!fault) return true;
    if (fault.hang) {
      await new Promise<void>((resolve) => hanging.add(resolve));
      return !cancelled();
    }
    if (fault.latencyMs) await new Promise((r) => setTimeout(r, fault.latencyMs));
    if (cancelled()) return false;
    if (fault.failWith !== undefined) {
      answer(statusError(fault.failWith, method));
      return false;
    }
    return true;
  };

  const impl: UntypedServiceImplementation = {};
  for (const [method, kind] of Object.entries(FIRESTORE_METHODS)) {
    const path = `/${SERVICE}/${method}`;
    if (kind === 'unary') {
      impl[method] = async (call: ServerUnaryCall<Buffer, Buffer>, rawCallback: sendUnaryData<Buffer>) => {
        callStarted();
        let answered = false;
        const callback: sendUnaryData<Buffer> = (err, value) => {
          if (answered) return;
          answered = true;
          callEnded();
          rawCallback(err, value);
        };
        let cancelled = false;
        call.on('cancelled', () => {
          cancelled = true;
          if (!answered) {
            answered = true;
            callEnded();
          }
        });
        if (!(await beforeCall(method, (e) => callback(e, null), () => cancelled))) return;
        const answeredUpstream = passedOn();
        const upstreamCall = client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, call.request, call.metadata, (err, value) => {
          answeredUpstream();
          if (err) callback(err, null);
          else {
            const body = value ?? Buffer.alloc(0);
            if (method === 'Commit') {
              try {
                committed.push(decodeCommit(call.request, body));
              } catch {
                // Not decodable: the call still passes through unchanged.
              }
            }
            callback(null, body);
          }
        });
        call.on('cancelled', () => upstreamCall.cancel());
      };
    } else if (kind === 'server-stream') {
      impl[method] = async (call: ServerWritableStream<Buffer, Buffer>) => {
        callStarted();
        let ended = false;
        const end = () => {
          if (ended) return;
          ended = true;
          callEnded();
        };
        call.on('finish', end);
        call.on('close', end);
        call.on('error', end);
        let cancelled = false;
        call.on('cancelled', () => {
          cancelled = true;
          end();
        });
        if (!(await beforeCall(method, (e) => failStream(call, e), () => cancelled))) return;
        const answeredUpstream = passedOn();
        const upstreamCall = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, call.request, call.metadata);
        upstreamCall.on('data', (chunk: Buffer) => call.write(chunk));
        upstreamCall.on('error', (err: ServiceError) => {
          answeredUpstream();
          failStream(call, err);
        });
        upstreamCall.on('end', () => {
          answeredUpstream();
          call.end();
        });
        call.on('cancelled', () => upstreamCall.cancel());
      };
    } else {
      impl[method] = async (call: ServerDuplexStream<Buffer, Buffer>) => {
        let cancelled = false;
        call.on('cancelled', () => (cancelled = true));
        // Requests that arrive while a fault delays the stream are kept, not dropped.
        const early: Buffer[] = [];
        const keep = (chunk: Buffer) => early.push(chunk);
        call.on('data', keep);
        if (!(await beforeCall(method, (e) => failStream(call, e), () => cancelled))) return;
        const upstreamCall = client.makeBidiStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, call.metadata);
        call.off('data', keep);
        for (const chunk of early) upstreamCall.write(chunk);
        call.on('data', (chunk: Buffer) => upstreamCall.write(chunk));
        call.on('end', () => upstreamCall.end());
        upstreamCall.on('data', (chunk: Buffer) => call.write(chunk));
        upstreamCall.on('error', (err: ServiceError) => failStream(call, err));
        upstreamCall.on('end', () => call.end());
        call.on('cancelled', () => upstreamCall.cancel());
      };
    }
  }

  const server = new Server();
  server.addService(serviceDefinition(), impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  const releaseHanging = () => {
    for (const release of hanging) release();
    hanging.clear();
  };

  return {
    host: `127.0.0.1:${port}`,
    port,
    upstream,
    stats: {
      counts: () => ({ ...counts }),
      total: () => Object.values(counts).reduce((a, b) => a + b, 0),
      reset: () => {
        for (const k of Object.keys(counts)) delete counts[k];
      },
      inFlight: () => inFlight,
      upstreamInFlight: () => upstreamInFlight,
      idle: (timeoutMs = 10_000) =>
        inFlight === 0
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => {
                idleWaiters = idleWaiters.filter((w) => w !== done);
                reject(new Error(`interposer: ${inFlight} calls still in flight after ${timeoutMs} ms`));
              }, timeoutMs);
              const done = () => {
                clearTimeout(timer);
                resolve();
              };
              idleWaiters.push(done);
            }),
    },
    commits: {
      entries: () => committed.map((c) => ({ ...c, documents: [...c.documents], serverValues: [...c.serverValues] })),
      writing: (document) => committed.filter((c) => c.documents.includes(document)).map((c) => ({ ...c, documents: [...c.documents], serverValues: [...c.serverValues] })),
      clear: () => {
        committed.length = 0;
      },
    },
    faults: {
      set: (method, fault) => {
        if (!(method in FIRESTORE_METHODS)) throw new Error(`${method} is not a method of ${SERVICE}`);
        faults.set(method, fault);
      },
      clear: (method) => {
        if (method) faults.delete(method);
        else faults.clear();
        releaseHanging();
      },
      injected: () => ({ ...injected }),
    },
    async stop() {
      releaseHanging();
      server.forceShutdown();
      client.close();
    },
  };
}
