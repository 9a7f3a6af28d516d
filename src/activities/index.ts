/**
 * The activities, built by one factory from their dependencies (inventory path, SSH pool, policies), so the same code
 * runs against the lab in tests and against AIX in production. One file per concern: resolve (validation), images
 * (source host), transfer/ (source to tape host), tape (tape host), notify (the people a run waits for); what they share is in hosts (inventory, SSH,
 * commands), failures, detached-run, remote-exec and context.
 */
import type { Client } from '@temporalio/client';
import { SshPool } from '../ssh';
import type { StagePolicies } from '../shared/policies';
import { driveLockActivities } from './drive-lock';
import { fleetActivities } from './fleet';
import { ActivityHosts, type RelayVia } from './hosts';
import { imageActivities } from './images';
import { notifyActivities, type NotifyConfig } from './notify';
import { resolveActivities } from './resolve';
import { streamActivities } from './stream';
import { tapeActivities } from './tape';
import { transferActivities } from './transfer';
import { volumeActivities } from './volumes';
import { workerInfoActivity } from './worker-info';

export interface ActivityDeps {
  inventoryPath: string;
  policies: StagePolicies;
  /** SSH connections, reused per host within the worker; one is made when absent. */
  sshPool?: SshPool;
  /** Milliseconds between polls of a detached remote command (default 2000). */
  pollIntervalMs?: number;
  /** Temporal client for the drive lock and fleet activities; createWorker makes one from its connection config. */
  temporalClient?: Client;
  /** Where notices of a wait for a person go; none sent when absent. */
  notify?: NotifyConfig;
  /** How images are relayed through the worker (default 'auto'). */
  relayVia?: RelayVia;
}

export function createActivities(deps: ActivityDeps) {
  const hosts = new ActivityHosts({
    inventoryPath: deps.inventoryPath,
    pool: deps.sshPool ?? new SshPool(),
    pollIntervalMs: deps.pollIntervalMs,
    relayVia: deps.relayVia,
  });
  return {
    workerInfo: workerInfoActivity(deps.inventoryPath),
    ...resolveActivities(hosts, deps.policies),
    ...imageActivities(hosts),
    ...transferActivities(hosts),
    ...tapeActivities(hosts, deps.temporalClient),
    ...volumeActivities(hosts),
    ...streamActivities(hosts),
    ...driveLockActivities(deps.temporalClient),
    ...fleetActivities({ inventoryPath: deps.inventoryPath, client: deps.temporalClient }),
    ...notifyActivities(deps.notify),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type * from './types';
export type { CartridgeLook, VolumeMeasure, VolumeSpan, VolumeWrite } from './volumes';
export type { StreamedRecord } from './stream';
export type { NoticeInput, NotifyConfig, NotifyResult } from './notify';
