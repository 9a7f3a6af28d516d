/** Shapes that pass between the workflow and the activities: small, JSON, nothing secret. */
import type { CheckedBackup, HostOs } from '../schema';
import type { TransferMode } from '../shared/contract';
import type { StagePolicies } from '../shared/policies';

/** A validated backup with what the worker knows of its hosts, as the first activity returns it. */
export interface RunPlan {
  backup: CheckedBackup;
  policies: StagePolicies;
  nonRetryableTypes: string[];
  tapeOs: HostOs;
  /** Cartridge capacity from the inventory, when known. */
  capacityBytes?: number;
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

export interface TransferOutcome {
  record: 1 | 2 | 4;
  bytes: number;
  /** Bytes moved to the tape host in this activity's final attempt, by the way `mode` says. */
  bytesSent: number;
  /** Byte offset the final attempt resumed from (0 = from the start). */
  resumedFrom: number;
  /** The file was already there with the right checksum. */
  alreadyThere: boolean;
  /**
   * `direct`: pulled by the tape host itself (the inventory's `pullFrom`; the worker moved no byte of it); `relay`:
   * through the worker. For an image already there, the way it would have moved.
   */
  mode: TransferMode;
  /** The direct pull could not log in or connect (ssh exit status 255): ssh's message. The image was relayed. */
  directFailed?: string;
}

export interface RecordWrite {
  record: 1 | 2 | 3 | 4;
  /** Bytes that land on tape (padded where the layout pads). */
  tapeBytes: number;
  blockSize: number;
  /** True when this attempt found the write already finished (re-attached to its result). */
  reattached: boolean;
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
  records: RecordCheck[];
}
