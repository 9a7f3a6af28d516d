/**
 * The stages of a backup, one vocabulary for the workflow, the activities' heartbeats, the client and the CLI: the
 * name a run reports (`progress.stage`, the MksysbStage search attribute), the key of the stage's activity policy
 * (DEFAULT_POLICIES, MKSYSB_TAPE_POLICIES: shorter spellings the configuration already uses), and its words.
 * Pure: imported by workflow code.
 */

/** The stages in the order a run passes them. */
export const STAGE_NAMES = ['validating', 'images', 'transfer', 'tape-prepare', 'tape-write', 'verify', 'cleanup', 'done'] as const;

/** Where a run is. `waiting` = retries used up, waiting for an operator's retry or abort. */
export type StageName = (typeof STAGE_NAMES)[number];

/** The stages that run activities: every one but `done`. */
export type ActivityStage = Exclude<StageName, 'done'>;

interface StageWords {
  /** What failed, in the operator's words: `${failed} failed: ...`. */
  failed: string;
  /** A progress step of the CLI: `write record 4/4  2.0 MiB / 4.0 MiB`. */
  step: string;
}

const WORDS: Record<StageName, StageWords> = {
  validating: { failed: 'validation', step: 'validate' },
  images: { failed: 'making the images', step: 'make image' },
  transfer: { failed: 'moving the images', step: 'transfer' },
  'tape-prepare': { failed: 'preparing the drive', step: 'prepare drive' },
  'tape-write': { failed: 'the tape write', step: 'write record' },
  verify: { failed: 'verification', step: 'verify' },
  cleanup: { failed: 'clean-up', step: 'clean up' },
  done: { failed: 'the run', step: 'done' },
};

/** Each activity stage's key in the policies. */
export const POLICY_KEY = {
  validating: 'validate',
  images: 'images',
  transfer: 'transfer',
  'tape-prepare': 'prepare',
  'tape-write': 'write',
  verify: 'verify',
  cleanup: 'cleanup',
} as const satisfies Record<ActivityStage, string>;

export type PolicyKey = (typeof POLICY_KEY)[ActivityStage];

/** The stage each activity belongs to, for a pending activity that has not heartbeated its stage yet. */
export const ACTIVITY_STAGE: Readonly<Record<string, ActivityStage>> = {
  resolveBackup: 'validating',
  makeImage: 'images',
  transferImage: 'transfer',
  checkStagedImage: 'transfer',
  prepareTape: 'tape-prepare',
  writeRecord: 'tape-write',
  writeVolume: 'tape-write',
  streamRecord4: 'tape-write',
  ejectCartridge: 'tape-write',
  awaitCartridge: 'tape-write',
  inspectCartridge: 'tape-prepare',
  verifyTape: 'verify',
  measureVolume: 'verify',
  expectedVolumeSha: 'verify',
  checkStagedArchive: 'verify',
  cleanupStaging: 'cleanup',
};

/** What failed, for the operator: `the tape write (record 4)`, `verification`. */
export function stageFailedText(stage: StageName, record?: number): string {
  return record ? `${WORDS[stage].failed} (record ${record})` : WORDS[stage].failed;
}

/** The CLI's label of a progress step; a stage this version does not know (a newer worker's) by its name. */
export function stageStepLabel(stage: string): string {
  return Object.hasOwn(WORDS, stage) ? WORDS[stage as StageName].step : stage;
}
