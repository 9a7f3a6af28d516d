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
  /** How often the fleet asks its running children what they do, for its details (0: never). Default 30. */
  detailsEverySeconds?: number;
  /** Options for every child run (everything of the mksysbToTape input but `source`, `tape` and `backupId`). */
  backupInput?: Partial<Omit<BackupInput, 'source' | 'tape' | 'backupId'>>;
}

export type FleetSourceState = 'queued' | 'running' | 'ok' | 'failed';

export interface FleetSourceResult {
  source: string;
  state: FleetSourceState;
  workflowId: string;
  drive?: Drive;
  /** Bytes put on tape (all records), when ok. */
  bytes?: number;
  /** Tape bytes of the source's last earlier backup, when known (what the order used). */
  expectedBytes?: number;
  error?: string;
  /** While running: the child's stage and what it does (from its `progress` query, refreshed periodically). */
  doing?: string;
  startedAt?: string;
  finishedAt?: string;
  seconds?: number;
}

export interface FleetResult {
  fleetId: string;
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
  counts: Record<FleetSourceState, number>;
  sources: FleetSourceResult[];
}

export const fleetStatusQuery = defineQuery<FleetStatus>('fleetStatus');

/** Bytes a backup put on tape (all four records): a finished child's size, and the order of the next night's fleet. */
export function backupTapeBytes(result: Pick<BackupResult, 'records'>): number {
  return result.records.reduce((n, r) => n + r.bytes, 0);
}
