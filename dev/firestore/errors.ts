import { status } from '@grpc/grpc-js';

/** An error answered to the client with a specific gRPC status code. */
export class FirestoreRpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'FirestoreRpcError';
  }
}

export function aborted(message: string): FirestoreRpcError {
  return new FirestoreRpcError(status.ABORTED, message);
}

export function invalidArgument(message: string): FirestoreRpcError {
  return new FirestoreRpcError(status.INVALID_ARGUMENT, message);
}

export function unimplemented(message: string): FirestoreRpcError {
  return new FirestoreRpcError(status.UNIMPLEMENTED, message);
}
