/** Shapes that pass between the workflow and the activities: small, JSON, nothing secret. */
import type { CheckedBackup, HostOs } from '../schema';
import type { TransferResult } from '../shared/contract';
import type { StagePolicies } from '../shared/policies';

/** A validated backup with what the worker knows of its hosts, as the first activity returns it. */
export interface RunPlan {
  backup: CheckedBackup;
  policies: StagePolicies;
  nonRetryableTypes: string[];
  tapeOs: HostOs;
  /** Cartridge capacity from the inventory, when known. */
  capacityBytes?: number;
  /** The drive loads the next cartridge itself after an eject (inventory `autoloader`). */
  autoloader?: 'sequential';
  /** Seconds the autoloader may take before a person is asked (inventory `autoloaderWaitSeconds`). */
  autoloaderWaitSeconds?: number;
  /** Staging folders: `<work folder>/<backup ID>` on each host. */
  stagingSource: string;
  stagingTape: string;
}

export interface StagedImage {
  record: 1 | 2 | 4;
  /** Path on the source host (and, same name, under the tape host's staging folder). */
  file: string;
  bytes: number;
  sha256: string;
}

/**
 * One move of a staged image to the tape host, as `transferImage` returns it: the result's TransferResult (without
 * `followed`, which only the workflow knows) and the image's size.
 */
export interface TransferOutcome extends Omit<TransferResult, 'followed'> {
  bytes: number;
}

/**
 * What `followImage` achieved, its rounds counted as one move (never "already there"): with `complete`, the tape
 * host's size and SHA-256 of its copy after mksysb ended. `mode` is `direct` when every read was pulled by the tape
 * host itself; `directFailed` says why the rounds from then on were relayed.
 */
export interface FollowOutcome extends Omit<TransferResult, 'alreadyThere' | 'followed'> {
  record: 4;
  complete: boolean;
  /** Reads of the growing file (one relay, or one pull by the tape host, each). */
  rounds: number;
  bytes?: number;
  sha256?: string;
}

export interface RecordWrite {
  record: 1 | 2 | 3 | 4;
  /** Bytes that land on tape (padded where the layout pads). */
  tapeBytes: number;
  blockSize: number;
  /** True when this attempt found the write already finished (re-attached to its result). */
  reattached: boolean;
  /** The cartridge filled up during the write (only record 4 of a backup that may span cartridges returns it). */
  endOfMedium?: boolean;
}

export interface RecordCheck {
  record: 1 | 2 | 3 | 4;
  expected: string;
  actual: string | null;
  ok: boolean;
  detail?: string;
}

export interface VerifyOutcome {
  lsmksysb: boolean | null;
  lsmksysbDetail?: string;
  /** Record 2 as BOS install reads it (AIX tape hosts): image.data, bosinst.data, and ./tapeblksz agreeing with record 4. */
  install?: { ok: boolean; detail: string };
  records: RecordCheck[];
}
