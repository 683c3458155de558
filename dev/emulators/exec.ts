/**
 * `tsx dev/emulators/exec.ts [--only firestore,pubsub,auth] -- <command> [args...]`
 *
 * Runs the command with the official Firebase Emulator Suite up (firebase-tools
 * `emulators:exec`), found and prepared offline by ./locate.ts and ./suite.ts. If a piece is
 * missing it prints what and how to get it, and exits 2 without running the command.
 */
import { EmulatorSetupError } from './locate.js';
import { execUnderEmulators, STACK_EMULATORS } from './suite.js';

const argv = process.argv.slice(2);
const dashdash = argv.indexOf('--');
const own = dashdash === -1 ? [] : argv.slice(0, dashdash);
const command = dashdash === -1 ? argv : argv.slice(dashdash + 1);
const onlyAt = own.indexOf('--only');
const only = onlyAt === -1 ? STACK_EMULATORS : (own[onlyAt + 1] ?? '').split(',').filter(Boolean);

if (command.length === 0) {
  console.error('usage: tsx dev/emulators/exec.ts [--only firestore,pubsub,auth] -- <command> [args...]');
  process.exit(2);
}

try {
  process.exitCode = await execUnderEmulators(command, { only });
} catch (err) {
  if (err instanceof EmulatorSetupError) {
    console.error(`\n${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
