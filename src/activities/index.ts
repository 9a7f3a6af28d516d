/**
 * The activities, built by one factory from their dependencies, so the same code runs against the lab in tests and
 * against AIX in production.
 */
import type { StagePolicies } from '../shared/policies';
import { workerInfoActivity } from './worker-info';

export interface ActivityDeps {
  inventoryPath: string;
  policies: StagePolicies;
}

export function createActivities(deps: ActivityDeps) {
  return {
    workerInfo: workerInfoActivity(deps.inventoryPath),
  };
}

export type Activities = ReturnType<typeof createActivities>;
