// Resource names: `projects/{project}/topics/{topic}` and
// `projects/{project}/subscriptions/{subscription}`, validated like Pub/Sub does.
import { status } from '@grpc/grpc-js';

/** An error carrying the gRPC status code the RPC should answer with. */
export class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

// Pub/Sub's rule for topic and subscription ids: starts with a letter, 3–255 characters
// of letters, digits and `-_.~+%`, and must not start with "goog".
const RESOURCE_ID = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const PROJECT_ID = /^[A-Za-z0-9\-_.:]+$/;

export type ResourceKind = 'topics' | 'subscriptions';

export interface ParsedName {
  project: string;
  id: string;
}

export function parseName(kind: ResourceKind, name: string): ParsedName {
  const parts = name.split('/');
  const [p, project, k, id] = parts;
  if (
    parts.length !== 4 ||
    p !== 'projects' ||
    project === undefined ||
    !PROJECT_ID.test(project) ||
    k !== kind ||
    id === undefined
  ) {
    throw new RpcError(
      status.INVALID_ARGUMENT,
      `Invalid resource name given (name=${name}). Refer to https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names for more information.`,
    );
  }
  if (!RESOURCE_ID.test(id) || id.toLowerCase().startsWith('goog')) {
    throw new RpcError(status.INVALID_ARGUMENT, `Invalid ${kind.slice(0, -1)} id: ${id}`);
  }
  return { project, id };
}

/** `"orders"` → `projects/{project}/topics/orders`; full names pass through (validated). */
export function qualify(kind: ResourceKind, nameOrId: string, project: string): string {
  const full = nameOrId.startsWith('projects/') ? nameOrId : `projects/${project}/${kind}/${nameOrId}`;
  parseName(kind, full);
  return full;
}

/** `projects/P` → `P`. */
export function parseProject(name: string): string {
  const match = /^projects\/([^/]+)$/.exec(name);
  if (!match?.[1] || !PROJECT_ID.test(match[1])) {
    throw new RpcError(status.INVALID_ARGUMENT, `Invalid project name: ${name}`);
  }
  return match[1];
}
