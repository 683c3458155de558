/** `EXECUTION_MODE`: what happens to an intent that passes every check. */
export const ExecutionMode = {
  /** Refuse every intent with `mode_off`. */
  off: 'off',
  /** Record the decision (`dry_run`), call no broker. */
  dry_run: 'dry_run',
  paper: 'paper',
  live: 'live',
} as const;
export type ExecutionMode = (typeof ExecutionMode)[keyof typeof ExecutionMode];

const MODES: ReadonlySet<string> = new Set(Object.values(ExecutionMode));

/** An unknown or mistyped mode is never a broker-calling mode: the caller refuses with `config_invalid`. */
export function parseExecutionMode(raw: string | undefined): { ok: true; mode: ExecutionMode } | { ok: false; problem: string } {
  const value = (raw ?? '').trim();
  if (MODES.has(value)) return { ok: true, mode: value as ExecutionMode };
  return { ok: false, problem: `EXECUTION_MODE=${JSON.stringify(raw ?? '')} is not one of ${[...MODES].join(', ')}` };
}

export function callsBroker(mode: ExecutionMode): boolean {
  return mode === ExecutionMode.paper || mode === ExecutionMode.live;
}
