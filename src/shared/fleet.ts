/**
 * The public contract of the mksysbFleet workflow: its name, input, result and status query. Used by the workflow,
 * its activities, the client API, the CLI and tests. Pure: no Node built-ins.
 */
import { defineQuery } from '@temporalio/workflow';
import type { BackupInput } from '../schema';
import type { BackupResult } from './contract';
import type { Drive } from './drive';

export type { Drive };

export const FLEET_WORKFLOW_TYPE = 'mksysbFleet';

export interface FleetInput {
  /** Source host names (inventory). Give this or `group`. */
  sources?: string[];
  /** An inventory group of source hosts. */
  group?: string;
  /** The drives the fleet may use, e.g. [{"host": "tapesrv", "device": "rmt0"}, ...]. */
  drives: Drive[];
  /** Running children per tape host (each runs one mksysb, transfer or tape phase at a time). Default 2 × drives. */
  maxConcurrentMksysbPerTapeHost?: number;
  /** Running children in all, so at most this many transfers at once. Default: no limit beyond the per-host ones. */
  maxConcurrentTransfers?: number;
  /**
   * Ignored: the fleet no longer asks its running children what they do (FleetClient.status reads that from the
   * children). Kept so that inputs and schedules that set it still type-check and start.
   * @deprecated
   */
  detailsEverySeconds?: number;
  /**
   * The run continues as new when its history reaches this many events (or when Temporal suggests it, at about
   * 4,096), carrying the board and its running children. Default 4000.
   */
  maxHistoryEvents?: number;
  /** Options for every child run (everything of the mksysbToTape input but `source`, `tape` and `backupId`). */
  backupInput?: Partial<Omit<BackupInput, 'source' | 'tape' | 'backupId'>>;
  /** Set by the fleet itself when it continues as new (the board so far); not for callers. */
  carry?: FleetCarry;
}

export type FleetSourceState = 'queued' | 'running' | 'ok' | 'failed';

export interface FleetSourceResult {
  source: string;
  state: FleetSourceState;
  workflowId: string;
  /** The child's run, while it runs (in the status query; not in the result, which would grow by 45 bytes a source). */
  runId?: string;
  drive?: Drive;
  /** Bytes put on tape (all records), when ok. */
  bytes?: number;
  /** Tape bytes of the source's last earlier backup, when known (what the order used). */
  expectedBytes?: number;
  error?: string;
  /**
   * While running: the child's stage and what it does, from the child's own `progress` query, read by the client
   * when it shows the status (FleetClient.status); the fleet workflow itself never sets it.
   */
  doing?: string;
  startedAt?: string;
  finishedAt?: string;
  seconds?: number;
}

export interface FleetResult {
  fleetId: string;
  /** Runs of the fleet's workflow (1 + the times it continued as new). */
  runs: number;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  drives: Drive[];
  limits: { perTapeHost: Record<string, number>; total: number | null };
  ok: number;
  failed: number;
  /** One entry per source, in the order they were started. */
  results: FleetSourceResult[];
}

export interface FleetStatus {
  fleetId: string;
  /** This run's number: 1, then one more each time the fleet continued as new. */
  run: number;
  counts: Record<FleetSourceState, number>;
  sources: FleetSourceResult[];
}

/**
 * What a fleet run hands to the next when it continues as new: the resolved drives and limits, and every source's
 * entry, packed (a fleet of thousands of sources keeps it to some tens of kilobytes). Entries keep the longest-first
 * order; children start in that order, so the started ones come first and their order is the result's.
 */
export interface FleetCarry {
  startedAt: string;
  /** Runs before the one that receives this carry. */
  runs: number;
  drives: Drive[];
  limits: FleetResult['limits'];
  entries: PackedEntry[];
}

/**
 * One source, packed: `s` source, `st` state, `d` index of its drive, `r` child run ID (while running), `b` bytes on tape, `x`
 * expected bytes, `e` error, `t0`/`t1` start and end (ms since the epoch). The child's workflow ID is
 * `<fleet ID>/<source>` and is not carried.
 */
export interface PackedEntry {
  s: string;
  st: FleetSourceState;
  d?: number;
  r?: string;
  b?: number;
  x?: number;
  e?: string;
  t0?: number;
  t1?: number;
}

export const fleetStatusQuery = defineQuery<FleetStatus>('fleetStatus');

/** Bytes a backup put on tape (all four records): a finished child's size, and the order of the next night's fleet. */
export function backupTapeBytes(result: Pick<BackupResult, 'records'>): number {
  return result.records.reduce((n, r) => n + r.bytes, 0);
}
