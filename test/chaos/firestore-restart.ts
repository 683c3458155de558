import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../dev/stack/ports.js';

/**
 * A Firestore emulator of the chaos run's own (the suite's is shared by other suites and must
 * not be restarted), from the same launcher the suite uses (FIRESTORE_EMULATOR_BINARY_PATH,
 * Java from JAVA_HOME, both set by dev/emulators/exec.ts). `restart(project)` exports the
 * project's data through the emulator's REST API, stops the emulator, and starts it again on
 * the same port seeded from the export (`--seed_from_export`), as firebase-tools' --import does.
 */
export interface OwnFirestoreEmulator {
  host: string;
  restart(projectId: string): Promise<{ downMs: number }>;
  stop(): Promise<void>;
}

export async function startOwnFirestoreEmulator(): Promise<OwnFirestoreEmulator> {
  const jar = process.env.FIRESTORE_EMULATOR_BINARY_PATH;
  if (!jar) throw new Error('FIRESTORE_EMULATOR_BINARY_PATH is not set: run under dev/emulators/exec.ts');
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'haltgate-chaos-firestore-'));
  let child: ChildProcess | null = null;
  let exports = 0;
  const start = async (seed?: string) => {
    child = spawn(java, ['-Duser.language=en', '-jar', jar, '--host', '127.0.0.1', '--port', String(port), ...(seed ? [`--seed_from_export=${seed}`] : [])], { stdio: 'ignore' });
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        const res = await fetch(`http://${host}/`);
        if (res.ok) return;
      } catch {
        // not up yet
      }
      if (Date.now() > until) throw new Error(`Firestore emulator on ${host} not up after 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const kill = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    host,
    async restart(projectId) {
      exports += 1;
      const name = `export-${exports}`;
      const res = await fetch(`http://${host}/emulator/v1/projects/${projectId}:export`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ database: `projects/${projectId}/databases/(default)`, export_directory: dir, export_name: name }),
      });
      if (!res.ok) throw new Error(`Firestore export: ${res.status} ${await res.text()}`);
      const meta = readdirSync(join(dir, name)).find((f) => f.endsWith('.overall_export_metadata'));
      if (!meta) throw new Error(`Firestore export wrote no metadata in ${join(dir, name)}`);
      const t0 = Date.now();
      await kill();
      await start(join(dir, name, meta));
      return { downMs: Date.now() - t0 };
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
