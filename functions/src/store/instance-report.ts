import { FieldValue, Timestamp, type Firestore } from 'firebase-admin/firestore';
import { describeConfig, type RuntimeConfigResult } from '../config.js';
import { timestampsToDates } from './firestore-values.js';
import { FUNCTION_INSTANCES } from './paths.js';

/**
 * `functionInstances/{function}-{instanceId}`: the effective configuration a function
 * instance runs with, so that operators (CLI, dashboard, ops status) see what the deployed
 * code actually uses rather than what a local file says. Secrets are never written:
 * `describeConfig` shows them as `<omitted>`. Written once per function per process, on its
 * first invocation (module load is too early: in tests the environment is not set yet, and
 * Cloud Run gives an instance CPU only while it serves).
 *
 * `expiresAt` (7 days on) is there for a Firestore TTL policy on this collection group, so
 * reports of instances long gone are pruned; without one they stay.
 */
export interface InstanceReport {
  function: string;
  instanceId: string;
  version: string;
  /** K_REVISION on Cloud Run, else null. */
  revision: string | null;
  startedAtMs: number;
  config: RuntimeConfigResult;
}

export const INSTANCE_REPORT_TTL_MS = 7 * 86_400_000;

export function instanceReportId(report: Pick<InstanceReport, 'function' | 'instanceId'>): string {
  return `${report.function}-${report.instanceId}`;
}

export async function writeInstanceReport(db: Firestore, report: InstanceReport, nowMs: number): Promise<void> {
  const config = report.config;
  await db
    .collection(FUNCTION_INSTANCES)
    .doc(instanceReportId(report))
    .set({
      function: report.function,
      instanceId: report.instanceId,
      version: report.version,
      revision: report.revision,
      startedAt: Timestamp.fromMillis(report.startedAtMs),
      reportedAt: FieldValue.serverTimestamp(),
      expiresAt: Timestamp.fromMillis(nowMs + INSTANCE_REPORT_TTL_MS),
      mode: (config.ok ? config.config.executionMode : config.partial.executionMode) ?? null,
      configValid: config.ok,
      problems: config.ok ? [] : config.problems,
      // JSON round trip: Firestore takes plain maps only (no undefined).
      config: JSON.parse(JSON.stringify(describeConfig(config.ok ? config.config : config.partial))) as Record<string, unknown>,
    });
}

/** One instance's report as the status shows it. */
export interface InstanceReportView {
  function: string;
  instanceId: string;
  version: string | null;
  revision: string | null;
  reportedAt: string | null;
  mode: string | null;
  configValid: boolean;
  problems: string[];
  config: Record<string, unknown>;
}

/** The newest reports, newest first (bounded: the dashboard polls the status). */
export async function readInstanceReports(db: Firestore, limit = 25): Promise<InstanceReportView[]> {
  const snap = await db.collection(FUNCTION_INSTANCES).orderBy('reportedAt', 'desc').limit(limit).get();
  return snap.docs.map((doc) => {
    const d = timestampsToDates(doc.data()) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    return {
      function: str(d.function) ?? 'unknown',
      instanceId: str(d.instanceId) ?? doc.id,
      version: str(d.version),
      revision: str(d.revision),
      reportedAt: d.reportedAt instanceof Date ? d.reportedAt.toISOString() : null,
      mode: str(d.mode),
      // Anything but an explicit true is shown as invalid: the report is written by us, so a
      // malformed one means something is off.
      configValid: d.configValid === true,
      problems: Array.isArray(d.problems) ? d.problems.filter((p): p is string => typeof p === 'string') : [],
      config: typeof d.config === 'object' && d.config !== null ? (d.config as Record<string, unknown>) : {},
    };
  });
}
