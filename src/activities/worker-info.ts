import * as os from 'node:os';

export interface WorkerInfo {
  hostname: string;
  pid: number;
  node: string;
  inventoryPath: string;
}

export function workerInfoActivity(inventoryPath: string) {
  return async function workerInfo(): Promise<WorkerInfo> {
    return { hostname: os.hostname(), pid: process.pid, node: process.version, inventoryPath };
  };
}
