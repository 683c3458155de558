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
}

export interface FirestoreInterposer {
  /** host:port to give clients. */
  host: string;
  port: number;
  /** Where calls go. */
  upstream: string;
  stats: InterposerStats;
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

function statusError(code: GrpcStatus, method: string): Partial<ServiceError> {
  return { code, details: `injected by the Firestore interposer: ${GrpcStatus[code]} on ${method}`, metadata: new Metadata() };
}

export async function startFirestoreInterposer(opts: { upstream: string; port?: number }): Promise<FirestoreInterposer> {
  const upstream = opts.upstream;
  const client = new Client(upstream, credentials.createInsecure());
  const counts: Record<string, number> = {};
  const faults = new Map<string, MethodFault>();
  const injected: Record<string, number> = {};
  const hanging = new Set<() => void>();

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
      impl[method] = async (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        let cancelled = false;
        call.on('cancelled', () => (cancelled = true));
        if (!(await beforeCall(method, (e) => callback(e, null), () => cancelled))) return;
        const upstreamCall = client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, call.request, call.metadata, (err, value) => {
          if (err) callback(err, null);
          else callback(null, value ?? Buffer.alloc(0));
        });
        call.on('cancelled', () => upstreamCall.cancel());
      };
    } else if (kind === 'server-stream') {
      impl[method] = async (call: ServerWritableStream<Buffer, Buffer>) => {
        let cancelled = false;
        call.on('cancelled', () => (cancelled = true));
        if (!(await beforeCall(method, (e) => call.destroy(Object.assign(new Error(e.details), e)), () => cancelled))) return;
        const upstreamCall = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, call.request, call.metadata);
        upstreamCall.on('data', (chunk: Buffer) => call.write(chunk));
        upstreamCall.on('error', (err: ServiceError) => call.destroy(err));
        upstreamCall.on('end', () => call.end());
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
        if (!(await beforeCall(method, (e) => call.destroy(Object.assign(new Error(e.details), e)), () => cancelled))) return;
        const upstreamCall = client.makeBidiStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, call.metadata);
        call.off('data', keep);
        for (const chunk of early) upstreamCall.write(chunk);
        call.on('data', (chunk: Buffer) => upstreamCall.write(chunk));
        call.on('end', () => upstreamCall.end());
        upstreamCall.on('data', (chunk: Buffer) => call.write(chunk));
        upstreamCall.on('error', (err: ServiceError) => call.destroy(err));
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
