/**
 * The public contract of the mksysbToTape workflow: its name, signals, updates, queries and the shapes they carry.
 * Used by the workflow itself, the client API, the CLI and tests. Pure: no Node built-ins.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BackupInput } from '../schema';
import type { StageName } from './stages';

export const WORKFLOW_TYPE = 'mksysbToTape';

export type { BackupInput, StageName };

/**
 * Where a run stands, in the MksysbOutcome search attribute and the `progress` query: `waiting` for an operator after
 * a stage used its retries; `aborted` by an operator's `abort` of a waiting run (Temporal status Failed);
 * `cancelled` by a Temporal cancel request, at any stage (Temporal status Canceled).
 */
export const OUTCOMES = ['running', 'waiting', 'succeeded', 'failed', 'aborted', 'cancelled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface RecordResult {
  record: 1 | 2 | 3 | 4;
  name: string;
  /** Bytes on tape (records 1 and 3 padded to 512, record 4 to its block size when that is above 512). */
  bytes: number;
  blockSize: number;
  /** SHA-256 of the bytes on tape (as read back when verified). */
  sha256: string;
  /** How many times the record was written in this run. */
  writes: number;
}

export interface Verification {
  level: 'full' | 'lsmksysb' | 'none';
  /** `lsmksysb -V` passed (AIX tape hosts); null when not run. */
  lsmksysb: boolean | null;
  /** Every record read back with the expected SHA-256; null when not read back. */
  readBack: boolean | null;
  /**
   * Record 2 read back holds what BOS install reads (image.data, bosinst.data, a ./tapeblksz agreeing with record 4's
   * block size); null when not checked (a Linux tape host, verify "none"). Absent in results of older runs.
   */
  installImage?: boolean | null;
  details: string[];
}

/** How an image reached the tape host: pulled by the tape host from the source itself, or relayed through the worker. */
export type TransferMode = 'direct' | 'relay';

/** One move of a staged image to the tape host, as the run made it. */
export interface TransferResult {
  record: 1 | 2 | 4;
  /**
   * `direct`: the tape host pulled the image with its own ssh (the inventory's `pullFrom`), no byte through the
   * worker; `relay`: source → worker → tape host over the worker's two SSH connections.
   */
  mode: TransferMode;
  /** Bytes moved by the step's final attempt (0 when the image was there already). */
  bytesSent: number;
  /** Byte offset the final attempt resumed from. */
  resumedFrom: number;
  alreadyThere: boolean;
  /** The mksysb image moved while mksysb wrote it (and matched the source's SHA-256 when it had finished). */
  followed?: boolean;
  /** Why the tape host could not pull the image itself (ssh's message), when it was relayed instead. */
  directFailed?: string;
  /** Which client the worker relayed with (docs/relay.md): its own OpenSSH `ssh | ssh`, or ssh2 in the worker. */
  relayedBy?: RelayClient;
}

export type RelayClient = 'openssh' | 'ssh2';

/** How a relay client is named to people. */
export const RELAY_CLIENT: Record<RelayClient, string> = { openssh: 'OpenSSH', ssh2: 'ssh2' };

/** One cartridge of a backup that spans several (`maxVolumes` above 1); a one-cartridge backup has one. */
export interface VolumeResult {
  volume: number;
  /** The archive (record 4) bytes [from, from + archiveBytes) this volume holds. */
  from: number;
  archiveBytes: number;
  /** Bytes on the cartridge's record-4 file (volume 1) or the whole cartridge (2..N: header, archive bytes, padding). */
  tapeBytes: number;
  /** SHA-256 of those bytes as read back from the cartridge. */
  sha256: string;
  /** Ended at the cartridge's end of medium (the next volume goes on from there). */
  endOfMedium: boolean;
  /** How many times this volume was written in this run. */
  writes: number;
}

/** What `writeWhileMksysb` achieved. */
export interface StreamResult {
  /** Record 4 on the tape is the stream's (its SHA-256 was the source image's). */
  streamed: boolean;
  /** Why record 4 was written from the staged copy instead (the stream's failure, a restarted mksysb, ...). */
  fellBack?: string;
  /** Records 1-3 were written while mksysb ran. */
  earlyRecords: number[];
}

export interface BackupResult {
  backupId: string;
  source: string;
  tape: { host: string; device: string };
  records: RecordResult[];
  /** Every move of an image to the tape host, in order (absent in results of runs made before it was reported). */
  transfers?: TransferResult[];
  verification: Verification;
  /** The cartridges of a backup written with `maxVolumes` above 1, in order (absent otherwise). */
  volumes?: VolumeResult[];
  /**
   * How record 4 reached the tape of a run started with `writeWhileMksysb`: streamed while mksysb wrote the image, or
   * written from the staged copy afterwards, and why (absent for other runs).
   */
  stream?: StreamResult;
  /** Seconds per stage, wall-clock as the workflow saw it. */
  durations: Partial<Record<StageName, number>>;
  stagingKept: boolean;
}

export interface BackupProgress {
  backupId: string;
  stage: StageName;
  outcome: Outcome;
  /** Record being written or verified (1..4), when in a tape stage. */
  record?: number;
  /** Bytes done and total of the current step, when known (activity heartbeats carry the live figure). */
  bytesDone?: number;
  bytesTotal?: number;
  /** Attempt of the current step (1 = first). */
  attempt: number;
  /** What the run is doing or waiting for, in words (also the UI's current details). */
  activity: string;
  lastError?: string;
  /**
   * Set while waiting for a person: for an operator's `retry`/`abort` after a stage failed, or (`for: "cartridge"`) for
   * the next cartridge of a multi-volume set (`volumeLoaded`); what and until when the run waits (ISO time).
   */
  waiting?: {
    stage: StageName;
    record?: number;
    reason: string;
    until: string;
    for?: 'operator' | 'cartridge';
    /** The volume the cartridge is wanted for, and how many cartridges are still to come after it (estimate). */
    volume?: number;
    volumesLeft?: number;
  };
  /** The cartridge being written, for a backup that spans several (1..maxVolumes). */
  volume?: number;
  /** Records written so far, in order. */
  recordsWritten: number[];
}

/**
 * An activity's heartbeat details: the live figures of a running step, as the client, the CLI and the UI show them
 * (and, for a transfer, where its next attempt resumes).
 */
export interface HeartbeatProgress {
  stage: StageName;
  record?: number;
  bytesDone?: number;
  bytesTotal?: number;
  /** Transfers: byte offset confirmed sent, the resume point for the next attempt. */
  offset?: number;
  elapsedMs?: number;
}

/** Operator decision after a stage used up its retries. JSON for the UI's signal form: `{"fromRecord": 3}` or `{}`. */
export interface RetryRequest {
  /** For tape stages: rewrite from this record (1..4) onward; default the record that failed. */
  fromRecord?: number;
  /** For a backup that spans cartridges: rewrite from this volume onward (its cartridge is asked for again). */
  fromVolume?: number;
  /** Free text kept in the history. */
  reason?: string;
}

/**
 * The operator's answer when a run waits for the next cartridge: `{}`, or `{"volume": 2}` to say which volume the
 * loaded cartridge is for (refused when it is not the one the run waits for).
 */
export interface VolumeLoadedRequest {
  volume?: number;
}

/** JSON for the UI's signal form: `{"reason": "cartridge damaged"}`. */
export interface AbortRequest {
  reason?: string;
}

export const retrySignal = defineSignal<[RetryRequest]>('retry');
export const abortSignal = defineSignal<[AbortRequest]>('abort');
/** Same as the signals, but answers whether the run was waiting (rejected otherwise). */
export const retryUpdate = defineUpdate<string, [RetryRequest]>('retryNow');
export const abortUpdate = defineUpdate<string, [AbortRequest]>('abortNow');
export const volumeLoadedSignal = defineSignal<[VolumeLoadedRequest]>('volumeLoaded');
/** Same as the signal, but refused unless the run waits for a cartridge (and for that volume, when one is named). */
export const volumeLoadedUpdate = defineUpdate<string, [VolumeLoadedRequest]>('volumeLoadedNow');
export const progressQuery = defineQuery<BackupProgress>('progress');

/** Default workflow ID: `mksysb-tape/<source>/<YYYY-MM-DD>` (one backup per source and day). */
export function defaultWorkflowId(source: string, date: Date): string {
  return `mksysb-tape/${source}/${date.toISOString().slice(0, 10)}`;
}

/** Backup ID for file and folder names: the workflow ID with every character outside [A-Za-z0-9._-] made `_`. */
export function backupIdFromWorkflowId(workflowId: string): string {
  return workflowId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
}

/** What a run waits for from a person: an operator's `retry` or `abort`, or the next cartridge in the drive. */
export type WaitingFor = 'operator' | 'cartridge';

/** What ended a wait for a person. */
export const WAIT_OUTCOMES = ['retry', 'abort', 'timeout', 'cancelled', 'volume-loaded'] as const;
export type WaitOutcome = (typeof WAIT_OUTCOMES)[number];

/**
 * What the worker tells people when a run starts (`waiting`) and stops (`resumed`) waiting for a person: the JSON
 * body of the notification webhook and the stdin of the notification command (docs/notifications.md). Host and
 * device names only, never credentials.
 */
export interface WaitNotice {
  event: 'waiting' | 'resumed';
  waitingFor: WaitingFor;
  backupId: string;
  workflowId: string;
  runId: string;
  namespace: string;
  source: string;
  tapeHost: string;
  /** `host:device`, e.g. `tapesrv:rmt0`. */
  drive: string;
  stage: StageName;
  record?: number;
  /** The cartridge the run waits for (1 = the first), and how many more it may still ask for after it. */
  volume?: number;
  volumesLeft?: number;
  /** Why the run waits, in words (the failure that used up the retries, or the cartridge to load). */
  reason: string;
  /** When the wait ends by itself (ISO time). */
  until: string;
  /** The run in the Temporal Web UI. */
  uiUrl: string;
  /** The command line that lets the run go on: `mksysb-tape retry ID`, `mksysb-tape volume-loaded ID`. */
  cli: string;
  /** The command line that stops the run instead, where there is one: `mksysb-tape abort ID`. */
  abortCli?: string;
  /** `resumed` only: what ended the wait. */
  outcome?: WaitOutcome;
}
