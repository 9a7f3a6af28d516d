/**
 * Worker Deployment Versioning: which build each workflow type runs on once a new build of the worker is made the
 * deployment's current version (docs/operations.md, "Deploying a new build"). Applied to the workflow functions by
 * src/workflows/versioning.ts; the worker's default for a type not listed is DEFAULT_VERSIONING_BEHAVIOR. Without
 * MKSYSB_TAPE_DEPLOYMENT_NAME / MKSYSB_TAPE_BUILD_ID the worker is unversioned and none of this applies.
 */
import type { VersioningBehavior } from '@temporalio/common';

/** What a new workflow type gets unless it is listed below: staying on its build is the safe choice. */
export const DEFAULT_VERSIONING_BEHAVIOR: VersioningBehavior = 'PINNED';

export const VERSIONING_BEHAVIORS = {
  // A backup runs for hours and may wait a day for an operator: it ends on the build that started it, so a deploy
  // that reorders its steps cannot break it with a non-determinism error. Old builds drain as their backups close.
  mksysbToTape: 'PINNED',
  // A fleet and its backups on one build: the children start on the parent's pinned build (the server passes a
  // pinned parent's version to children on the same task queue), and the fleet's continue-as-new keeps it.
  mksysbFleet: 'PINNED',
  // A drive lock lives for months: pinned, it would hold its old build alive for ever. It moves to the current build
  // at its next workflow task and replays its short history (it continues as new every maxHistoryEvents) on the new
  // code, so a change to driveLock must replay the old histories: guard it with patched() (docs/operations.md).
  driveLock: 'AUTO_UPGRADE',
  // Short runs: the build that took them finishes them.
  driveLockProbe: 'PINNED',
  workerPing: 'PINNED',
} as const satisfies Record<string, VersioningBehavior>;

export type VersionedWorkflowType = keyof typeof VERSIONING_BEHAVIORS;
