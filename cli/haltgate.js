#!/usr/bin/env node
// The `haltgate` command (root package "bin"). Loads the compiled CLI from the functions
// build so a fresh clone needs only `npm ci && npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../functions/lib/cli/main.js', import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write('haltgate: the CLI is not built yet; run `npm run build` in the repository root first.\n');
  process.exit(1);
}
const { runCli } = await import(pathToFileURL(compiled).href);
const code = await runCli(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
});
// Exit explicitly: a client stuck retrying (unreachable Firestore) must not hold the command open.
process.exit(code);
