import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU accounting for the benchmark from /proc (Linux): a process's utime + stime (all its
 * threads; for the JVM emulators that is every thread), its main thread's alone (the one
 * JavaScript runs on, for Node), and the machine's busy time from /proc/stat. Readings are
 * clock ticks turned into milliseconds; a window's share is its CPU time over its wall time
 * (1.0 = one core busy all the window). Elsewhere than Linux every reading is null.
 */
const TICK_MS = 10; // USER_HZ is 100 on Linux (getconf CLK_TCK)

/** utime + stime of /proc/<pid>/stat (or /proc/<pid>/task/<tid>/stat) in ms; null if gone. */
function statMs(file: string): number | null {
  try {
    const text = readFileSync(file, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(rest[11]) + Number(rest[12])) * TICK_MS;
  } catch {
    return null;
  }
}

export const processCpuMs = (pid: number): number | null => statMs(`/proc/${pid}/stat`);
export const mainThreadCpuMs = (pid: number): number | null => statMs(`/proc/${pid}/task/${pid}/stat`);

/** Busy and total ms summed over all CPUs since boot (/proc/stat's first line). */
export function machineCpuMs(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
  } catch {
    return null;
  }
}

/** The emulator JVM listening on `port` (its command line names `--port <port>` or `--port=<port>`), or null. */
export function emulatorPid(port: number): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return null;
  }
  for (const e of entries) {
    try {
      const args = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (!/(^|\/)java$/.test(args[0] ?? '')) continue;
      for (let i = 0; i < args.length; i += 1) {
        if (args[i] === `--port=${port}` || (args[i] === '--port' && args[i + 1] === String(port))) return Number(e);
      }
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

export interface CpuTarget {
  name: string;
  pid: number;
  /** Also read the main thread (Node: the JavaScript thread). */
  mainThread?: boolean;
}

export interface CpuWindow {
  wallMs: number;
  /** Machine busy over the window, in cores (0..nproc). */
  machineCores: number | null;
  /** Per target: CPU ms and share of one core over the window; main thread's too when asked. */
  processes: Record<string, { cpuMs: number | null; cores: number | null; mainThreadCores?: number | null }>;
}

/** Starts a window over `targets`; `end()` returns each one's CPU over it. */
export function cpuWindow(targets: CpuTarget[]): { end(): CpuWindow } {
  const t0 = performance.now();
  const m0 = machineCpuMs();
  const p0 = targets.map((t) => ({ cpu: processCpuMs(t.pid), main: t.mainThread ? mainThreadCpuMs(t.pid) : null }));
  return {
    end() {
      const wallMs = performance.now() - t0;
      const m1 = machineCpuMs();
      const processes: CpuWindow['processes'] = {};
      targets.forEach((t, i) => {
        const a = p0[i]!;
        const b = processCpuMs(t.pid);
        const cpuMs = a.cpu !== null && b !== null ? b - a.cpu : null;
        const entry: CpuWindow['processes'][string] = { cpuMs, cores: cpuMs === null ? null : cpuMs / wallMs };
        if (t.mainThread) {
          const mb = mainThreadCpuMs(t.pid);
          entry.mainThreadCores = a.main !== null && mb !== null ? (mb - a.main) / wallMs : null;
        }
        processes[t.name] = entry;
      });
      // /proc/stat sums every CPU: busy ms over wall ms = cores busy.
      const machineCores = m0 && m1 ? (m1.busy - m0.busy) / wallMs : null;
      return { wallMs, machineCores, processes };
    },
  };
}
