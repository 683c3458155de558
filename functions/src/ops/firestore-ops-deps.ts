import type { Firestore } from 'firebase-admin/firestore';
import type { RuntimeConfigResult } from '../config.js';
import type { Clock } from '../domain/clock.js';
import type { EventLogger } from '../logs.js';
import type { ShutdownGate } from '../safety/shutdown-gate.js';
import { writeKillSwitch } from '../store/kill-switch-admin.js';
import type { VerifyIdToken } from './auth.js';
import { haltStrategyForOps, resetBreakerForOps } from './breaker-reset.js';
import { writeSymbolHalt } from '../store/symbol-halt-admin.js';
import { emulatorVariableRefusal } from './firebase-verifier.js';
import type { OpsDeps } from './handler.js';
import { readOpsStatus, type StatusReaderOptions } from './status-reader.js';
import { readKillSwitchAudit, readPnlToday, readTimeline, tradingTimeZoneOf } from './timeline-reader.js';

/** The ops handler's dependencies over one Firestore: what `index.ts`, the local stack and tests bind. */
export function firestoreOpsDeps(input: {
  db: Firestore;
  verifyIdToken: VerifyIdToken;
  clock: Clock;
  log: EventLogger;
  loadConfig: () => RuntimeConfigResult;
  env: () => Readonly<Record<string, string | undefined>>;
  gate: ShutdownGate;
  instanceId: string;
  statusOptions?: StatusReaderOptions;
}): OpsDeps {
  const { db, gate } = input;
  return {
    verifyIdToken: input.verifyIdToken,
    clock: input.clock,
    log: input.log,
    webApiKey: input.env().OPS_WEB_API_KEY?.trim() || null,
    // The emulator firebase-admin verifies against is where the page signs in; never where that is refused.
    authEmulatorHost: emulatorVariableRefusal(input.env()) === null ? input.env().FIREBASE_AUTH_EMULATOR_HOST?.trim() || null : null,
    readStatus: () =>
      readOpsStatus(
        {
          db,
          nowMs: input.clock.now(),
          config: input.loadConfig(),
          haltedParam: input.env().EXECUTION_HALTED,
          instance: { instanceId: input.instanceId, shuttingDown: gate.shuttingDown, shutdownReason: gate.shutdownReason, inflight: gate.inflight },
        },
        input.statusOptions,
      ),
    readTimeline: ({ hours }) => readTimeline({ db, nowMs: input.clock.now(), hours }),
    readPnl: () => {
      // The same day the daily-loss breaker sums: this deploy's CB_TRADING_TIME_ZONE.
      const tz = tradingTimeZoneOf(input.env().CB_TRADING_TIME_ZONE);
      return readPnlToday({ db, nowMs: input.clock.now(), timeZone: tz.timeZone, timeZoneSource: tz.source });
    },
    readKillSwitchAudit: ({ limit }) => readKillSwitchAudit({ db, nowMs: input.clock.now(), limit }),
    writeKillSwitch: (write) => writeKillSwitch(db, write),
    resetBreaker: resetBreakerForOps(db, input.clock),
    haltStrategy: haltStrategyForOps(db, input.clock),
    writeSymbolHalt: (write) => writeSymbolHalt(db, write, input.clock),
  };
}
