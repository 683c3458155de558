import type { OpsStatus } from './status.js';

/**
 * What an operator must see before trading resumes. `POST /resume` (and `haltgate resume`)
 * refuses while any of these is unmet, unless `force` is given — a resume is the one
 * operation that can put orders back on the wire, so its surprises are spelled out first.
 */
export interface UnmetPrecondition {
  code: 'config_invalid' | 'param_halted' | 'stuck_submissions' | 'reconciler_failed' | 'shutting_down';
  message: string;
}

export function unmetResumePreconditions(status: OpsStatus): UnmetPrecondition[] {
  const unmet: UnmetPrecondition[] = [];
  // null is "not reported yet": executeIntent refuses by itself if its configuration is bad.
  if (status.execution.configValid === false) {
    unmet.push({ code: 'config_invalid', message: `configuration is invalid (${status.execution.problems.join('; ')}); every intent is refused with config_invalid` });
  }
  if (status.killSwitch.sources.includes('param')) {
    unmet.push({ code: 'param_halted', message: 'EXECUTION_HALTED halts at deploy level: resuming the document does not resume trading until it is redeployed as false' });
  }
  if (status.submissions.stuck.length > 0) {
    const ids = status.submissions.stuck.slice(0, 5).map((s) => `${s.intentId} (${s.state})`).join(', ');
    unmet.push({ code: 'stuck_submissions', message: `${status.submissions.stuck.length} submission(s) stuck non-terminal, outcome at the broker not settled: ${ids}` });
  }
  if (status.reconciler && status.reconciler.ok === false) {
    unmet.push({ code: 'reconciler_failed', message: `the last reconciler run failed${status.reconciler.result ? `: ${status.reconciler.result}` : ''}` });
  }
  return unmet;
}
