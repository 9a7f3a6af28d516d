/**
 * The workflow input: one small JSON object a person types into the Temporal UI's start form, e.g.
 * `{"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}}`. See "Workflow contract" in DESIGN.md.
 *
 * Pure code: runs in the Temporal workflow sandbox, so it imports nothing but zod.
 */
import { z } from 'zod';
import { convertIssues, fallbackReason, InputValidationError, showValue } from './format';
import {
  backupIdReason,
  bootDeviceReason,
  boolean,
  deviceReason,
  hostNameReason,
  list,
  number,
  object,
  oneOf,
  text,
  workFolderReason,
} from './rules';
import { MAX_BLOCK_SIZE, MKSYSB_FLAGS, normaliseMksysbFlags, TAPE_BLOCK_SIZE, type MksysbFlag } from './tape-rules';

const MKSYSB_FLAG_HELP =
  '-e (leave out files listed in /etc/exclude.rootvg), -i (create image.data), -m (image.data with map files), ' +
  '-p (do not pack files), -X (let mksysb grow /tmp)';

export const VERIFY_LEVELS = ['full', 'lsmksysb', 'none'] as const;
export type VerifyLevel = (typeof VERIFY_LEVELS)[number];

/** Defaults applied to every optional field (backupId defaults to the workflow ID). */
export const BACKUP_DEFAULTS = {
  mksysbFlags: Object.freeze(['-i', '-p']) as readonly MksysbFlag[],
  bootDevice: '/dev/rmt0',
  record4BlockSize: TAPE_BLOCK_SIZE,
  verify: 'full' as VerifyLevel,
  overwrite: false,
  keepStaging: false,
  operatorWaitHours: 24,
  maxAttempts: 3,
  maxVolumes: 1,
  writeWhileMksysb: false,
} as const;

const HOST_TEXT = 'must be the name of a host in the inventory, as text (e.g. "aix01")';

/** The zod schema of the workflow input (strict: unknown fields are refused by name). */
export const backupInputSchema = object(
  {
    source: text(hostNameReason, {
      required: 'is required: the inventory name of the AIX host to back up (e.g. "aix01")',
      type: HOST_TEXT,
    }),
    tape: object(
      {
        host: text(hostNameReason, {
          required: 'is required: the inventory name of the host with the tape drive (e.g. "tapesrv")',
          type: HOST_TEXT,
        }),
        device: text(deviceReason, {
          required: 'is required: the tape device on that host (e.g. "rmt0")',
          type: 'must be a tape device name as text (e.g. "rmt0")',
        }),
      },
      {
        required: 'is required: where to write, e.g. {"host": "tapesrv", "device": "rmt0"}',
        type: 'must be an object such as {"host": "tapesrv", "device": "rmt0"}',
      },
    ),
    backupId: text(backupIdReason, { type: 'must be text such as "aix01-2024-06-01"' }).optional(),
    mksysbFlags: list(
      z.enum(MKSYSB_FLAGS, { error: () => `is not an allowed mksysb flag; the allowed flags are ${MKSYSB_FLAG_HELP}` }),
      { type: 'must be a list of mksysb flags such as ["-e", "-i", "-p"]' },
    )
      .max(10, { error: 'must list at most 10 flags' })
      .transform(normaliseMksysbFlags)
      .default(() => [...BACKUP_DEFAULTS.mksysbFlags]),
    bootDevice: text(bootDeviceReason, { type: 'must be text such as "/dev/rmt0"' }).default(BACKUP_DEFAULTS.bootDevice),
    record4BlockSize: number(TAPE_BLOCK_SIZE, MAX_BLOCK_SIZE, {
      extra: (v) => (v % TAPE_BLOCK_SIZE === 0 ? undefined : `must be a multiple of ${TAPE_BLOCK_SIZE} (e.g. 512, 65536, 262144)`),
    }).default(BACKUP_DEFAULTS.record4BlockSize),
    verify: oneOf(VERIFY_LEVELS).default(BACKUP_DEFAULTS.verify),
    overwrite: boolean().default(BACKUP_DEFAULTS.overwrite),
    maxVolumes: number(1, 99).default(BACKUP_DEFAULTS.maxVolumes),
    writeWhileMksysb: boolean().default(BACKUP_DEFAULTS.writeWhileMksysb),
    expectedLabel: text(backupIdReason, { type: 'must be the backup ID of an earlier backup, as text' }).optional(),
    keepStaging: boolean().default(BACKUP_DEFAULTS.keepStaging),
    workFolder: object(
      {
        source: text(workFolderReason, { type: 'must be a folder path as text (e.g. "/home/mksysb")' }).optional(),
        tape: text(workFolderReason, { type: 'must be a folder path as text (e.g. "/home/mksysb")' }).optional(),
      },
      { type: 'must be an object such as {"source": "/home/mksysb", "tape": "/backup/stage"}' },
    ).default(() => ({})),
    operatorWaitHours: number(0, 720, { fraction: true }).default(BACKUP_DEFAULTS.operatorWaitHours),
    retry: object(
      { maxAttempts: number(1, 20).default(BACKUP_DEFAULTS.maxAttempts) },
      { type: 'must be an object such as {"maxAttempts": 3}' },
    ).default(() => ({ maxAttempts: BACKUP_DEFAULTS.maxAttempts })),
  },
  {
    required: 'no input was given; expected an object such as {"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}}',
    type: 'must be an object such as {"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}}',
  },
);

/** The input as a person or a service writes it. */
export type BackupInput = z.input<typeof backupInputSchema>;

/** The input with every default applied. */
export interface ResolvedBackup {
  source: string;
  tape: { host: string; device: string };
  /** Names the staging files and folders; the workflow ID unless given. */
  backupId: string;
  /** Sorted, no repeats, always with -i. */
  mksysbFlags: MksysbFlag[];
  bootDevice: string;
  record4BlockSize: number;
  verify: VerifyLevel;
  overwrite: boolean;
  /** Cartridges the backup may span (1: it must fit on one, the default). */
  maxVolumes: number;
  /**
   * Take the drive once the boot and install images are moved, write records 1-3 and stream record 4 as mksysb writes
   * it (docs/write-while-mksysb.md); any trouble falls back to writing record 4 from the staged copy.
   */
  writeWhileMksysb: boolean;
  expectedLabel?: string;
  keepStaging: boolean;
  /** Overrides of the inventory's work folders; both are filled in by `checkInputAgainstInventory`. */
  workFolder: { source?: string; tape?: string };
  operatorWaitHours: number;
  retry: { maxAttempts: number };
}

export interface ParseBackupContext {
  /** The workflow ID: the default backup ID. */
  workflowId?: string;
}

/**
 * Validate `raw` and apply the defaults. Throws `InputValidationError` naming every bad field.
 * `context.workflowId` is the default backup ID; without it and without `backupId` in the input the input is refused.
 */
export function parseBackupInput(raw: unknown, context: ParseBackupContext = {}): ResolvedBackup {
  const res = backupInputSchema.safeParse(raw, { error: fallbackReason });
  const { issues, lines } = res.success ? { issues: [], lines: [] } : convertIssues(raw, res.error.issues);
  let backupId = res.success ? res.data.backupId : undefined;
  const isObject = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
  if (isObject && (raw as { backupId?: unknown }).backupId === undefined) {
    const wf = context.workflowId;
    if (wf === undefined) {
      const message = 'is required here: there is no workflow ID to use as the backup ID';
      issues.push({ path: 'backupId', message });
      lines.push(`backupId: ${message}`);
    } else {
      const bad = backupIdReason(wf);
      if (bad === undefined) backupId = wf;
      else {
        const message = `the workflow ID ${showValue(wf)} cannot name the backup's files (a backup ID ${bad}); give backupId in the input`;
        issues.push({ path: 'backupId', message });
        lines.push(`backupId: ${message}`);
      }
    }
  }
  if (!res.success || issues.length > 0 || backupId === undefined) throw new InputValidationError(issues, lines);
  const d = res.data;
  const out: ResolvedBackup = {
    source: d.source,
    tape: { host: d.tape.host, device: d.tape.device },
    backupId,
    mksysbFlags: [...d.mksysbFlags],
    bootDevice: d.bootDevice,
    record4BlockSize: d.record4BlockSize,
    verify: d.verify,
    overwrite: d.overwrite,
    maxVolumes: d.maxVolumes,
    writeWhileMksysb: d.writeWhileMksysb,
    keepStaging: d.keepStaging,
    workFolder: { ...d.workFolder },
    operatorWaitHours: d.operatorWaitHours,
    retry: { maxAttempts: d.retry.maxAttempts },
  };
  if (d.expectedLabel !== undefined) out.expectedLabel = d.expectedLabel;
  return out;
}
