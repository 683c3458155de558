import { describe, expect, it } from 'vitest';
import {
  BrokerNotPlacedError,
  BrokerOutcomeUnknownError,
  ClaimHeldError,
  DeadlineBudgetError,
  describeCause,
  HaltgateError,
  isHaltgateError,
  isRetryable,
  ShutdownInProgressError,
  StoreUnavailableError,
} from '../../functions/src/errors.js';

const cause = new TypeError('socket hang up');

const CASES: { name: string; make: () => HaltgateError; reason: string; message: RegExp; context: Record<string, unknown>; cause?: unknown }[] = [
  {
    name: 'ShutdownInProgressError',
    make: () => new ShutdownInProgressError('SIGTERM'),
    reason: 'shutting_down',
    message: /^instance is shutting down \(SIGTERM\); the message will be redelivered$/,
    context: { shutdownReason: 'SIGTERM' },
  },
  {
    name: 'DeadlineBudgetError',
    make: () => new DeadlineBudgetError(4_000, 15_000, 'after claim'),
    reason: 'deadline_budget',
    message: /^only 4000 ms left before the function deadline \(after claim\); 15000 ms are required/,
    context: { remainingMs: 4_000, requiredMs: 15_000, stage: 'after claim' },
  },
  {
    name: 'ClaimHeldError',
    make: () => new ClaimHeldError('mom-1', 'inst-A', 'submitting'),
    reason: 'claim_held',
    message: /^submission mom-1 is submitting and owned by inst-A/,
    context: { intentId: 'mom-1', owner: 'inst-A', state: 'submitting' },
  },
  {
    name: 'BrokerNotPlacedError',
    make: () => new BrokerNotPlacedError('mom-1', '429 too many requests'),
    reason: 'broker_not_placed',
    message: /^broker did not place mom-1: 429 too many requests/,
    context: { intentId: 'mom-1', detail: '429 too many requests' },
  },
  {
    name: 'BrokerOutcomeUnknownError',
    make: () => new BrokerOutcomeUnknownError('mom-1', 'timeout', cause),
    reason: 'broker_outcome_unknown',
    message: /^outcome of mom-1 at the broker is unknown: timeout$/,
    context: { intentId: 'mom-1', detail: 'timeout' },
    cause,
  },
  {
    name: 'StoreUnavailableError',
    make: () => new StoreUnavailableError('claim', cause),
    reason: 'store_unavailable',
    message: /^store operation claim failed: TypeError: socket hang up$/,
    context: { operation: 'claim' },
    cause,
  },
];

describe.each(CASES)('$name', ({ name, make, reason, message, context, cause: expectedCause }) => {
  const err = make();

  it('has its own name, and is a HaltgateError and an Error', () => {
    expect(err.name).toBe(name);
    expect(err).toBeInstanceOf(HaltgateError);
    expect(err).toBeInstanceOf(Error);
    expect(isHaltgateError(err)).toBe(true);
    expect(String(err).startsWith(`${name}: `)).toBe(true);
    expect(err.stack).toContain(name);
  });

  it('carries its stable reason, message and context', () => {
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
    expect(err.context).toEqual(context);
  });

  it('is retryable', () => {
    expect(err.retryable).toBe(true);
    expect(isRetryable(err)).toBe(true);
  });

  it(expectedCause === undefined ? 'has no cause' : 'keeps its cause', () => {
    if (expectedCause === undefined) expect('cause' in err).toBe(false);
    else expect(err.cause).toBe(expectedCause);
  });
});

describe('HaltgateError', () => {
  it('keeps reason, retryable, cause and context', () => {
    const err = new HaltgateError('nope', { reason: 'custom', retryable: false, cause, context: { a: 1 } });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('HaltgateError');
    expect(err.message).toBe('nope');
    expect(err.reason).toBe('custom');
    expect(err.retryable).toBe(false);
    expect(err.cause).toBe(cause);
    expect(err.context).toEqual({ a: 1 });
  });

  it('defaults context to {} and sets no cause when none is given', () => {
    const err = new HaltgateError('x', { reason: 'r', retryable: true });
    expect(err.context).toEqual({});
    expect('cause' in err).toBe(false);
  });

  it('keeps a falsy but defined cause', () => {
    expect(new HaltgateError('x', { reason: 'r', retryable: true, cause: 0 }).cause).toBe(0);
    expect(new HaltgateError('x', { reason: 'r', retryable: true, cause: null }).cause).toBeNull();
  });

  it('BrokerOutcomeUnknownError without a cause has none', () => {
    expect('cause' in new BrokerOutcomeUnknownError('i', 'd')).toBe(false);
  });
});

describe('isRetryable / isHaltgateError', () => {
  it('a terminal HaltgateError is not retryable', () => {
    expect(isRetryable(new HaltgateError('x', { reason: 'r', retryable: false }))).toBe(false);
  });

  it.each([new Error('boom'), new TypeError('t'), 'a string', 42, null, undefined, { retryable: false }, { reason: 'x', retryable: false }])(
    'an unknown error (%j) is retryable and not a HaltgateError',
    (err) => {
      expect(isRetryable(err)).toBe(true);
      expect(isHaltgateError(err)).toBe(false);
    },
  );
});

describe('describeCause', () => {
  it('names an Error by name and message', () => {
    expect(describeCause(new RangeError('bad'))).toBe('RangeError: bad');
    expect(describeCause(new StoreUnavailableError('op', 'inner'))).toBe('StoreUnavailableError: store operation op failed: inner');
  });

  it('stringifies anything else', () => {
    expect(describeCause('DEADLINE_EXCEEDED')).toBe('DEADLINE_EXCEEDED');
    expect(describeCause(14)).toBe('14');
    expect(describeCause(undefined)).toBe('undefined');
    expect(describeCause(null)).toBe('null');
  });
});
