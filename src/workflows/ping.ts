import { proxyActivities } from '@temporalio/workflow';
import type { WorkerInfo } from '../activities/worker-info';

const { workerInfo } = proxyActivities<{ workerInfo(): Promise<WorkerInfo> }>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3 },
});

/** Health check of the deployment: a worker is polling the task queue and can run activities. */
export async function workerPing(): Promise<WorkerInfo> {
  return await workerInfo();
}
