import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { systemClock } from '../domain/clock.js';
import { parseIntentText } from '../domain/intent.js';
import { isHaltgateError } from '../errors.js';
import { resetBreakerForOps, BreakerResetOutcome, haltStrategyForOps, StrategyHaltOutcome } from '../ops/breaker-reset.js';
import { isHaltableSymbol } from '../domain/symbol-halt.js';
import { writeSymbolHalt } from '../store/symbol-halt-admin.js';
import { unmetResumePreconditions } from '../ops/resume-preconditions.js';
import { readOpsStatus } from '../ops/status-reader.js';
import type { OpsStatus } from '../ops/status.js';
import { writeKillSwitch } from '../store/kill-switch-admin.js';
import { ORDER_INTENTS_TOPIC } from '../topics.js';

/**
 * `npx haltgate …`: the operator's command line. It talks to Firestore and Pub/Sub directly
 * with the official clients — application default credentials against a real project, or
 * the emulators when FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST are set — and writes
 * through the same store functions as the ops API. Exit codes are stable (scripts key on them).
 */

export const ExitCode = {
  ok: 0,
  /** Firestore/Pub/Sub unreachable, permission denied, anything unexpected. */
  failed: 1,
  /** Bad command line. */
  usage: 2,
  /** Understood and refused: resume preconditions unmet, breaker not tripped, unknown breaker. */
  refused: 3,
  /** The input file is not a valid intent. */
  invalid: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const USAGE = `Usage: haltgate <command> [options]

Commands:
  status                                   kill switch, what the functions run with (their own reports),
                                           breakers, submissions, open orders per strategy, bad finals
                                           (rejected after acceptance, expired unfilled), reconciler, runners
  halt --reason <text>                     halt all trading (writes ops/killSwitch)
  resume --reason <text> [--force]         resume (also ends reduce-only); refused while a precondition is unmet unless --force
  reduce-only --reason <text> [--force]    reduce-only posture: only orders that shrink a position are claimed
                                           (from halted: the resume preconditions apply, --force overrides)
  strategy-halt <strategy> --reason <text> halt one strategy (latches its breaker manual; undo with
                                           reset-breaker <strategy> manual)
  symbol-halt <symbol> --reason <text>     halt one symbol for every strategy (symbolHalts/{symbol})
  symbol-resume <symbol> --reason <text>   resume a halted symbol
  reset-breaker <strategy> <name> --reason <text>
                                           reset one latched breaker of a strategy
  publish-intent <file.json>               validate an order intent and publish it to order-intents

Options:
  --project <id>     Google Cloud / Firebase project (default: GOOGLE_CLOUD_PROJECT or GCLOUD_PROJECT)
  --as <name>        who is acting, recorded with the change (default: cli:<user>@<host>)
  --timeout <s>      give up after this many seconds (default 30): exit 1
  --json             machine-readable output on stdout
  -h, --help         this text

Local stack: set FIRESTORE_EMULATOR_HOST (and PUBSUB_EMULATOR_HOST for publish-intent).
Real project: gcloud auth application-default login, then --project <id>.
Exit codes: 0 ok, 1 failed, 2 usage, 3 refused, 4 invalid intent.`;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  cwd?: string;
}

class UsageError extends Error {}

function renderStatus(s: OpsStatus): string {
  const lines: string[] = [];
  const k = s.killSwitch;
  lines.push(k.halted ? `HALTED  ${k.reason ?? ''}` : k.reduceOnly ? `REDUCE-ONLY  ${k.documentReason ?? ''}`.trimEnd() : `ACTIVE  ${k.documentReason ?? ''}`.trimEnd());
  if (k.who || k.since) lines.push(`        by ${k.who ?? 'unknown'}${k.since ? ` since ${k.since}` : ''}`);
  lines.push(`mode    ${s.execution.mode ?? 'unknown'}${s.execution.configValid === false ? ` (config INVALID: ${s.execution.problems.join('; ')})` : ''}`);
  lines.push(`        from ${s.execution.source}`);
  const counts = Object.entries(s.submissions.countsByState).map(([st, n]) => `${st} ${n}`).join(', ');
  lines.push(`last 1h ${counts || 'no submissions'}`);
  lines.push(`stuck   ${s.submissions.stuck.length}${s.submissions.stuck.length ? `: ${s.submissions.stuck.map((x) => `${x.intentId} (${x.state})`).join(', ')}` : ''}`);
  if (s.orders) {
    const open = s.orders.openByStrategy.map((o) => `${o.strategyId} ${o.open}`).join(', ');
    lines.push(`open orders ${open || 'none'}${s.orders.openTruncated ? ' (more not counted)' : ''}`);
    const bad = s.orders.badFinals;
    lines.push(
      `bad finals ${bad.length}${bad.length ? `: ${bad.map((b) => `${b.intentId} (${b.strategyId ?? '?'} ${b.symbol ?? '?'}: ${b.kind}, ${b.status} filled ${b.filledQty}${b.updatedAt ? ` at ${b.updatedAt}` : ''})`).join(', ')}` : ''}`,
    );
  }
  lines.push(`reconciler ${s.reconciler ? `${s.reconciler.lastRunAt ?? '?'} ${s.reconciler.ok === false ? 'FAILED' : 'ok'}${s.reconciler.result ? ` (${s.reconciler.result})` : ''}` : 'no run recorded'}`);
  for (const st of s.strategies) {
    const tripped = st.breakers.filter((b) => b.tripped);
    lines.push(`strategy ${st.strategyId}: ${st.problem ?? (tripped.length ? tripped.map((b) => `${b.name} TRIPPED (${b.value ?? 'n/a'} vs ${b.threshold}) since ${b.since}: ${b.reason}`).join('; ') : 'no breaker tripped')}`);
  }
  const symbols = s.symbolHalts ?? [];
  lines.push(`symbols halted ${symbols.length ? symbols.map((h) => `${h.symbol}${h.problem ? ` (MALFORMED: ${h.problem})` : ` (${h.reason ?? 'no reason'}${h.updatedBy ? ` by ${h.updatedBy}` : ''})`}`).join(', ') : 'none'}`);
  for (const r of s.runners) lines.push(`runner ${r.runnerId}: ${r.state ?? '?'}${r.stale ? ' STALE' : ''} (last seen ${r.lastSeenAt ?? 'never'})`);
  return lines.join('\n');
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let json = argv.includes('--json');
  const out = (human: string, data: unknown) => io.stdout(json ? JSON.stringify(data, null, 2) : human);
  const fail = (code: ExitCode, message: string, extra: Record<string, unknown> = {}): ExitCode => {
    if (json) io.stdout(JSON.stringify({ ok: false, exitCode: code, error: message, ...extra }, null, 2));
    else io.stderr(`haltgate: ${message}`);
    return code;
  };

  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        project: { type: 'string' },
        reason: { type: 'string' },
        force: { type: 'boolean' },
        json: { type: 'boolean' },
        as: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return fail(ExitCode.usage, `${(err as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  json = values.json === true;
  const [command, ...args] = positionals;
  if (values.help || command === 'help') {
    io.stdout(USAGE);
    return ExitCode.ok;
  }
  if (!command) return fail(ExitCode.usage, `no command\n\n${USAGE}`);

  const project = values.project ?? io.env.GOOGLE_CLOUD_PROJECT ?? io.env.GCLOUD_PROJECT;
  const who = values.as ?? `cli:${safeUser()}@${hostname()}`;
  const needReason = (): string => {
    const r = values.reason?.trim();
    if (!r) throw new UsageError(`${command} needs --reason <text>`);
    return r;
  };

  let app: App | undefined;
  const db = (): Firestore => {
    if (!project) throw new UsageError('no project: pass --project <id> or set GOOGLE_CLOUD_PROJECT');
    app ??= initializeApp({ projectId: project }, `haltgate-cli-${process.pid}-${Date.now()}`);
    return getFirestore(app);
  };
  // What the deployed functions run with comes from their own reports (functionInstances),
  // never from a file or this shell's environment, which may say anything.
  const status = async (): Promise<OpsStatus> =>
    readOpsStatus({
      db: db(),
      nowMs: systemClock.now(),
      config: null,
      haltedParam: undefined,
      // The CLI is not a function instance: nothing of its own shuts down or is in flight.
      instance: { instanceId: 'cli', shuttingDown: false, shutdownReason: null, inflight: 0 },
    });

  const timeoutS = values.timeout === undefined ? 30 : Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) return fail(ExitCode.usage, '--timeout must be a positive number of seconds');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${timeoutS} s: Firestore or Pub/Sub did not answer (check the project, credentials, or the emulator variables)`)), timeoutS * 1000);
  });
  try {
    return await Promise.race([execute(), deadline]);
  } catch (err) {
    if (err instanceof UsageError) return fail(ExitCode.usage, err.message);
    // Store errors name the operation and the cause; no credentials are ever part of them.
    return fail(ExitCode.failed, isHaltgateError(err) ? err.message : `${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
    // A hung client must not keep the command alive: deleting the app is best effort.
    if (app) await Promise.race([deleteApp(app).catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  }

  async function execute(): Promise<ExitCode> {
    switch (command) {
      case 'status': {
        const s = await status();
        out(renderStatus(s), s);
        return ExitCode.ok;
      }
      case 'halt': {
        const reason = needReason();
        const r = await writeKillSwitch(db(), { halted: true, reason, updatedBy: who, via: 'cli', nowMs: systemClock.now() });
        out(`HALTED by ${who}: ${reason}${r.changed ? '' : ' (was already halted; reason updated)'}`, { ok: true, halted: true, changed: r.changed, reason, by: who });
        return ExitCode.ok;
      }
      case 'resume': {
        const reason = needReason();
        const unmet = unmetResumePreconditions(await status());
        if (unmet.length > 0 && !values.force) {
          return fail(ExitCode.refused, `not resumed; unmet preconditions (resolve them, or pass --force):\n${unmet.map((u) => `  - ${u.message}`).join('\n')}`, { unmet });
        }
        const forced = values.force === true && unmet.length > 0;
        const r = await writeKillSwitch(db(), { halted: false, reason, updatedBy: who, via: 'cli', forced, nowMs: systemClock.now() });
        out(`RESUMED by ${who}: ${reason}${forced ? ` (forced over: ${unmet.map((u) => u.code).join(', ')})` : ''}`, { ok: true, halted: false, changed: r.changed, reason, by: who, overridden: forced ? unmet : [] });
        return ExitCode.ok;
      }
      case 'reduce-only': {
        const reason = needReason();
        const s = await status();
        // From halted this lets reducing orders through: the resume preconditions apply.
        const unmet = s.killSwitch.halted ? unmetResumePreconditions(s) : [];
        if (unmet.length > 0 && !values.force) {
          return fail(ExitCode.refused, `not switched to reduce-only; unmet preconditions (resolve them, or pass --force):\n${unmet.map((u) => `  - ${u.message}`).join('\n')}`, { unmet });
        }
        const forced = values.force === true && unmet.length > 0;
        const r = await writeKillSwitch(db(), { halted: false, reduceOnly: true, reason, updatedBy: who, via: 'cli', forced, nowMs: systemClock.now() });
        out(`REDUCE-ONLY by ${who}: ${reason}${forced ? ` (forced over: ${unmet.map((u) => u.code).join(', ')})` : ''}${r.changed ? '' : ' (was already reduce-only; reason updated)'}`, { ok: true, halted: false, reduceOnly: true, changed: r.changed, reason, by: who, overridden: forced ? unmet : [] });
        return ExitCode.ok;
      }
      case 'strategy-halt': {
        const [strategyId] = args;
        if (!strategyId || args.length !== 1) throw new UsageError('strategy-halt needs <strategy>');
        const reason = needReason();
        const r = await haltStrategyForOps(db(), systemClock)({ strategyId, reason, who });
        if (r.outcome !== StrategyHaltOutcome.halted && r.outcome !== StrategyHaltOutcome.alreadyHalted) return fail(ExitCode.refused, r.detail, { outcome: r.outcome });
        out(r.outcome === StrategyHaltOutcome.halted ? `HALTED strategy ${strategyId} by ${who}: ${reason} (audit ${r.auditId ?? '?'}; undo: reset-breaker ${strategyId} manual)` : r.detail, {
          ok: true,
          outcome: r.outcome,
          strategyId,
          breaker: 'manual',
          changed: r.outcome === StrategyHaltOutcome.halted,
          by: r.by ?? null,
          since: r.since ?? null,
          reason: r.reason ?? null,
          auditId: r.auditId ?? null,
        });
        return ExitCode.ok;
      }
      case 'symbol-halt':
      case 'symbol-resume': {
        const [symbol] = args;
        if (!symbol || args.length !== 1) throw new UsageError(`${command} needs <symbol>`);
        if (!isHaltableSymbol(symbol)) throw new UsageError(`"${symbol}" is not a symbol (upper-case ticker such as AAPL, BRK.B or BTC/USD)`);
        const reason = needReason();
        const halted = command === 'symbol-halt';
        const r = await writeSymbolHalt(db(), { symbol, halted, reason, updatedBy: who, via: 'cli' }, systemClock);
        out(`${halted ? 'HALTED' : 'RESUMED'} symbol ${symbol} by ${who}: ${reason}${r.changed ? '' : halted ? ' (was already halted; reason updated)' : ' (was not halted)'}`, {
          ok: true,
          symbol,
          halted,
          changed: r.changed,
          reason,
          by: who,
          auditId: r.auditId,
        });
        return ExitCode.ok;
      }
      case 'reset-breaker': {
        const [strategyId, name] = args;
        if (!strategyId || !name || args.length !== 2) throw new UsageError('reset-breaker needs <strategy> <name>');
        const reason = needReason();
        const r = await resetBreakerForOps(db(), systemClock)({ strategyId, breaker: name, reason, who });
        if (r.outcome !== BreakerResetOutcome.reset) return fail(ExitCode.refused, r.detail, { outcome: r.outcome });
        out(`reset ${name} of ${strategyId} (audit ${r.auditId ?? '?'})`, { ok: true, outcome: r.outcome, strategyId, breaker: name, auditId: r.auditId ?? null });
        return ExitCode.ok;
      }
      case 'publish-intent': {
        const [file] = args;
        if (!file || args.length !== 1) throw new UsageError('publish-intent needs exactly one <file.json>');
        let text: string;
        try {
          text = await readFile(file.startsWith('/') || !io.cwd ? file : `${io.cwd}/${file}`, 'utf8');
        } catch (err) {
          return fail(ExitCode.invalid, `cannot read ${file}: ${(err as Error).message}`);
        }
        const intent = parseIntentText(text);
        if (!intent.ok) {
          return fail(ExitCode.invalid, `${file} is not a valid intent (${intent.failure}):\n${intent.issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`, { issues: intent.issues });
        }
        if (!project) throw new UsageError('no project: pass --project <id> or set GOOGLE_CLOUD_PROJECT');
        // Loaded here, not at the top: every other command — `halt` above all — would pay for
        // loading the Pub/Sub client first (about half of the CLI's start-up CPU).
        const { PubSub } = await import('@google-cloud/pubsub');
        const pubsub = new PubSub({ projectId: project });
        try {
          const messageId = await pubsub.topic(ORDER_INTENTS_TOPIC).publishMessage({
            data: Buffer.from(JSON.stringify(intent.intent), 'utf8'),
            attributes: { intentId: intent.intent.intentId, strategyId: intent.intent.strategyId },
          });
          out(`published ${intent.intent.intentId} to ${ORDER_INTENTS_TOPIC} (message ${messageId})`, { ok: true, intentId: intent.intent.intentId, messageId, topic: ORDER_INTENTS_TOPIC });
        } finally {
          await pubsub.close();
        }
        return ExitCode.ok;
      }
      default:
        return fail(ExitCode.usage, `unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    }
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
