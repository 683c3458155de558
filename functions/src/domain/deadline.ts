/**
 * The deadline budget (G4). 2nd-gen event functions get no remaining-time API, so the
 * deadline is handler entry + the configured timeout. A broker call starts only when at
 * least `minSubmitBudgetMs` remain, and its own timeout ends `marginMs` before the deadline
 * so the outcome can still be recorded.
 */
export interface DeadlineBudget {
  deadlineAtMs: number;
  minSubmitBudgetMs: number;
  marginMs: number;
  maxBrokerTimeoutMs: number;
}

export function deadlineFrom(handlerEntryMs: number, timeoutSeconds: number): number {
  return handlerEntryMs + timeoutSeconds * 1000;
}

export function remainingMs(budget: DeadlineBudget, nowMs: number): number {
  return Math.max(0, budget.deadlineAtMs - nowMs);
}

export type BudgetCheck = { ok: true; brokerTimeoutMs: number } | { ok: false; remainingMs: number; requiredMs: number };

/** May a broker call start now, and with which timeout? */
export function checkSubmitBudget(budget: DeadlineBudget, nowMs: number): BudgetCheck {
  const left = remainingMs(budget, nowMs);
  if (left < budget.minSubmitBudgetMs) return { ok: false, remainingMs: left, requiredMs: budget.minSubmitBudgetMs };
  const brokerTimeoutMs = Math.min(budget.maxBrokerTimeoutMs, left - budget.marginMs);
  // minSubmitBudgetMs > marginMs is enforced by config validation; still, never hand out a
  // non-positive timeout.
  if (brokerTimeoutMs <= 0) return { ok: false, remainingMs: left, requiredMs: budget.marginMs + 1 };
  return { ok: true, brokerTimeoutMs };
}
