/**
 * Activity timeouts and retry policies per stage. Pure data: the worker resolves them (defaults, then
 * MKSYSB_TAPE_POLICIES from temporal.config.ts) and hands them to each run in the result of its first activity, so a
 * run keeps the policies it started with, recorded in its history.
 *
 * Heartbeat timeouts are under a minute everywhere, so a dead worker is noticed quickly; start-to-close timeouts are
 * generous because mksysb of a large rootvg takes hours, and a tape write of hundreds of GiB as long.
 */
import type { PolicyKey } from './stages';

export interface StagePolicy {
  /** Longest a single attempt may run. */
  startToCloseTimeout: string;
  /** Longest silence between heartbeats before the attempt is considered lost (worker gone). */
  heartbeatTimeout?: string;
  /** Attempts Temporal makes before the workflow asks an operator (retry/abort). */
  maximumAttempts: number;
  initialInterval: string;
  backoffCoefficient: number;
  maximumInterval: string;
}

/** Keyed by each stage's policy key (POLICY_KEY in stages.ts). */
export type StagePolicies = Record<PolicyKey, StagePolicy>;

const quick = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' };

export const DEFAULT_POLICIES: StagePolicies = {
  validate: { startToCloseTimeout: '2m', maximumAttempts: 3, ...quick },
  images: { startToCloseTimeout: '12h', heartbeatTimeout: '45s', maximumAttempts: 3, ...quick },
  transfer: { startToCloseTimeout: '12h', heartbeatTimeout: '45s', maximumAttempts: 5, ...quick },
  prepare: { startToCloseTimeout: '15m', heartbeatTimeout: '45s', maximumAttempts: 3, ...quick },
  write: { startToCloseTimeout: '12h', heartbeatTimeout: '45s', maximumAttempts: 3, ...quick },
  verify: { startToCloseTimeout: '12h', heartbeatTimeout: '45s', maximumAttempts: 3, ...quick },
  cleanup: { startToCloseTimeout: '15m', maximumAttempts: 5, ...quick },
};

/**
 * The notification of a wait for a person (src/activities/notify.ts), which is no stage and has no operator to fall
 * back on: retried with back-off for about three minutes, so a webhook or mail relay that is down for a moment still
 * gets the notice, and then given up (the run waits all the same). An attempt sends to every channel once: a webhook
 * request has 10 s, a command 30 s.
 */
export const NOTIFY_POLICY = {
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '6m',
  maximumAttempts: 7,
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
} as const satisfies StagePolicy & { scheduleToCloseTimeout: string };
