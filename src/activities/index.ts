/**
 * The activities, built by one factory from their dependencies, so the same code runs against the lab in tests and
 * against AIX in production.
 */
import type { Client } from '@temporalio/client';
import type { StagePolicies } from '../shared/policies';
import { driveLockActivities } from './drive-lock';
import { fleetActivities } from './fleet';
import { workerInfoActivity } from './worker-info';

export interface ActivityDeps {
  inventoryPath: string;
  policies: StagePolicies;
  /** Temporal client for the drive lock and fleet activities; createWorker makes one from its connection config. */
  temporalClient?: Client;
}

export function createActivities(deps: ActivityDeps) {
  return {
    workerInfo: workerInfoActivity(deps.inventoryPath),
    ...driveLockActivities(deps.temporalClient),
    ...fleetActivities({ inventoryPath: deps.inventoryPath, client: deps.temporalClient }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
