/**
 * Cloud Scheduler, locally: invokes `onSchedule` functions on a timer with the HTTP request
 * Cloud Scheduler sends (POST with the `X-CloudScheduler-*` headers that firebase-functions
 * reads into the event). Runs never overlap per function: a slow run delays the next one, as
 * a Cloud Scheduler job whose attempt is still running would be retried later.
 */

export const MINUTE_MS = 60_000;

/**
 * The period of a schedule string. Understands App Engine cron `every N minutes|hours|seconds`
 * (what firebase-functions examples use) and the unix cron shapes `* * * * *` and
 * `*\/N * * * *`; anything else runs every minute locally (stated in the stack's banner).
 */
export function scheduleIntervalMs(schedule: string): { ms: number; exact: boolean } {
  const s = schedule.trim().toLowerCase();
  const every = /^every\s+(\d+)\s+(second|seconds|minute|minutes|min|mins|hour|hours)$/.exec(s);
  if (every) {
    const n = Number(every[1]);
    const unit = every[2] ?? 'minutes';
    const ms = unit.startsWith('second') ? 1000 : unit.startsWith('hour') ? 60 * MINUTE_MS : MINUTE_MS;
    return { ms: Math.max(1, n) * ms, exact: true };
  }
  if (/^\*\s+\*\s+\*\s+\*\s+\*$/.test(s)) return { ms: MINUTE_MS, exact: true };
  const cron = /^\*\/(\d+)\s+\*\s+\*\s+\*\s+\*$/.exec(s);
  if (cron) return { ms: Math.max(1, Number(cron[1])) * MINUTE_MS, exact: true };
  return { ms: MINUTE_MS, exact: false };
}

/** One Cloud Scheduler attempt: resolves with the HTTP status (0 when the function was unreachable). */
export async function invokeScheduled(url: string, jobName: string, timeoutMs = 600_000): Promise<number> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'X-CloudScheduler': 'true',
        'X-CloudScheduler-JobName': jobName,
        'X-CloudScheduler-ScheduleTime': new Date().toISOString(),
      },
      body: '{}',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export interface ScheduledJob {
  stop(): void;
}

/** Invokes `run` every `intervalMs` (first run after one period), never overlapping itself. */
export function every(intervalMs: number, run: () => Promise<unknown>): ScheduledJob {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    if (stopped) return;
    try {
      await run();
    } finally {
      if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
    }
  };
  timer = setTimeout(() => void tick(), intervalMs);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
