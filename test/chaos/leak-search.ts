import type { DocumentReference, Firestore } from 'firebase-admin/firestore';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { LocalStack } from '../../dev/stack/stack.js';
import { loadRuntimeConfig } from '../../functions/src/config.js';
import { readOpsStatus } from '../../functions/src/ops/status-reader.js';

/**
 * "Secrets never leak": what a chaos round leaves behind, searched for its broker keys. The
 * round runs with recognisable keys of its own (the simulator accepts only those, so every
 * submit really carried them); the search covers every log line of every function process,
 * every Firestore document of the stack's project (all collections, recursively, documents
 * that only hold subcollections included), the ops status JSON (readOpsStatus with the
 * functions' own configuration, keys included, as the ops function builds it) and the CLI's
 * `haltgate status --json`. The run's intent and strategy ids carry a planted marker: the same
 * search must find it in each source (a search that finds nothing proves nothing).
 */

const execFileP = promisify(execFile);

export interface LeakCheckKeys {
  keyId: string;
  secretKey: string;
  /** Planted in the run's intent and strategy ids (the positive control). */
  marker: string;
  /** Every string that must not appear (case-insensitive): the keys, and their recognisable prefixes. */
  needles: string[];
}

export function leakCheckKeys(): LeakCheckKeys {
  const suffix = randomBytes(6).toString('hex');
  const keyId = `PKLEAKCHECK${suffix.toUpperCase()}`;
  const secretKey = `sk-leakcheck-${suffix}-${randomBytes(12).toString('hex')}`;
  return { keyId, secretKey, marker: `leakmarker${suffix}`, needles: [keyId, secretKey, 'PKLEAKCHECK', 'sk-leakcheck', secretKey.slice('sk-leakcheck-'.length)] };
}

export interface LeakSource {
  /** What was searched: log lines, documents, characters of JSON / output. */
  searched: number;
  /** Needle → where it was found (at most a few per needle). */
  hits: Record<string, string[]>;
  /** Whether the planted marker was found. */
  markerFound: boolean;
}

export interface LeakEvidence {
  logs: LeakSource;
  firestore: LeakSource & { collections: number };
  opsStatus: LeakSource;
  cli: LeakSource & { exitCode: number };
}

/** Searches `items` ([where, text]) for the needles (case-insensitive) and the marker. */
export function searchFor(items: Iterable<[string, string]>, needles: string[], marker: string): LeakSource {
  const lower = needles.map((n) => n.toLowerCase());
  const m = marker.toLowerCase();
  const hits: Record<string, string[]> = {};
  let searched = 0;
  let markerFound = false;
  for (const [where, text] of items) {
    searched += 1;
    const t = text.toLowerCase();
    if (t.includes(m)) markerFound = true;
    lower.forEach((n, i) => {
      if (!t.includes(n)) return;
      const list = (hits[needles[i]!] ??= []);
      if (list.length < 5) list.push(where);
    });
  }
  return { searched, hits, markerFound };
}

/** Every document of the project ([path, JSON of its data]), walking collections recursively. */
export async function allDocuments(db: Firestore): Promise<{ docs: Array<[string, string]>; collections: number }> {
  const docs: Array<[string, string]> = [];
  let collections = 0;
  const walk = async (cols: Array<{ listDocuments(): Promise<DocumentReference[]> }>) => {
    for (const col of cols) {
      collections += 1;
      const refs = await col.listDocuments();
      for (let i = 0; i < refs.length; i += 100) {
        const batch = refs.slice(i, i + 100);
        const snaps = batch.length > 0 ? await db.getAll(...batch) : [];
        for (const snap of snaps) {
          // The path too: document ids are searched as well as fields.
          docs.push([snap.ref.path, `${snap.ref.path} ${snap.exists ? JSON.stringify(snap.data()) : '(no fields)'}`]);
        }
      }
      for (const ref of refs) await walk(await ref.listCollections());
    }
  };
  await walk(await db.listCollections());
  return { docs, collections };
}

/** Searches everything the stack left behind. Call before the stack stops (runChaos `beforeStop`). */
export async function searchStack(stack: LocalStack, logLines: string[], keys: LeakCheckKeys): Promise<LeakEvidence> {
  const logs = searchFor(
    logLines.map((l, i) => [`log line ${i}: ${l.slice(0, 200)}`, l] as [string, string]),
    keys.needles,
    keys.marker,
  );
  const { docs, collections } = await allDocuments(stack.db);
  const firestore = { ...searchFor(docs, keys.needles, keys.marker), collections };
  // The ops status as the ops function builds it: with the functions' configuration, keys included.
  const status = await readOpsStatus({
    db: stack.db,
    nowMs: Date.now(),
    config: loadRuntimeConfig(stack.functionsEnv),
    haltedParam: stack.functionsEnv.EXECUTION_HALTED,
    instance: { instanceId: 'leak-check', shuttingDown: false, shutdownReason: null, inflight: 0 },
  });
  const statusJson = JSON.stringify(status);
  const opsStatus = { ...searchFor([['ops status JSON', statusJson]], keys.needles, keys.marker), searched: statusJson.length };
  // The CLI as an operator runs it, with the functions' environment (keys included) on top.
  let cliOut = '';
  let exitCode = 0;
  try {
    const r = await execFileP(process.execPath, ['cli/haltgate.js', 'status', '--json', '--project', stack.projectId], {
      env: { ...process.env, ...stack.functionsEnv, FIRESTORE_EMULATOR_HOST: stack.firestoreHost },
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    cliOut = `${r.stdout}\n${r.stderr}`;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    exitCode = typeof e.code === 'number' ? e.code : -1;
    cliOut = `${e.stdout ?? ''}\n${e.stderr ?? ''}`;
  }
  const cli = { ...searchFor([['haltgate status --json', cliOut]], keys.needles, keys.marker), searched: cliOut.trim().length, exitCode };
  return { logs, firestore, opsStatus, cli };
}

export function formatLeakEvidence(e: LeakEvidence): string {
  const line = (name: string, s: LeakSource, unit: string) =>
    `  ${name.padEnd(10)} ${String(s.searched).padStart(8)} ${unit}, marker ${s.markerFound ? 'found' : 'NOT FOUND'}, leaks ${Object.keys(s.hits).length === 0 ? 'none' : JSON.stringify(s.hits)}`;
  return [
    'secrets leak check:',
    line('logs', e.logs, 'log lines'),
    line('firestore', e.firestore, `documents in ${e.firestore.collections} collections`),
    line('ops status', e.opsStatus, 'characters'),
    line('cli', e.cli, `characters (exit ${e.cli.exitCode})`),
  ].join('\n');
}
