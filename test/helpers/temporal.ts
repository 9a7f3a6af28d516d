/**
 * Test access to the run's Temporal dev server (started once by scripts/test.ts) and to workers running the
 * once-bundled workflow code. A test file run on its own (`node --import tsx --test FILE`) starts a server of its own.
 */
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig, type MksysbTapeConfig } from '../../temporal.config';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { requireTemporalCli } from '../../scripts/temporal-cli';
import { WORKFLOWS_PATH, createWorker, type StartWorkerOptions } from '../../src/worker';
import { installWorkerLogRuntime } from './worker-log';

export interface TestTemporal {
  address: string;
  client: Client;
  connection: Connection;
  nativeConnection: NativeConnection;
  bundlePath?: string;
  config(overrides?: Partial<MksysbTapeConfig>): MksysbTapeConfig;
}

let shared: Promise<TestTemporal> | undefined;

// Workers in tests log warnings and errors only (MKSYSB_TEST_LOG_LEVEL=DEBUG for more), into the test file's worker
// log (test/helpers/worker-log.ts).
installWorkerLogRuntime((process.env.MKSYSB_TEST_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN');

/** Clean-ups run once when the test file ends (registered at module level, so on the file's root test). */
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

export function testTemporal(): Promise<TestTemporal> {
  shared ??= connect();
  return shared;
}

async function connect(): Promise<TestTemporal> {
  let address = process.env.MKSYSB_TEST_TEMPORAL_ADDRESS;
  let ownEnv: TestWorkflowEnvironment | undefined;
  if (!address) {
    ownEnv = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: requireTemporalCli().path },
        searchAttributes: [...SEARCH_ATTRIBUTES],
      },
    });
    address = ownEnv.address;
  }
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  cleanups.push(async () => {
    await nativeConnection.close();
    await connection.close();
    await ownEnv?.teardown();
  });
  const resolvedAddress = address;
  return {
    address,
    client,
    connection,
    nativeConnection,
    bundlePath: process.env.MKSYSB_TEST_WORKFLOW_BUNDLE,
    config(overrides = {}) {
      const base = loadConfig({ TEMPORAL_ADDRESS: resolvedAddress, TEMPORAL_NAMESPACE: 'default' });
      return { ...base, taskQueue: `test-${randomUUID()}`, ...overrides };
    },
  };
}

let ownBundle: Promise<string> | undefined;

/** Workflow code, bundled once per test run by scripts/test.ts, or once per file when run alone. */
export async function workflowBundle(): Promise<{ codePath: string } | { code: string }> {
  const t = await testTemporal();
  if (t.bundlePath) return { codePath: t.bundlePath };
  ownBundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH }).then((b) => b.code);
  return { code: await ownBundle };
}

/** Starts the project's worker (real activities) on the config's task queue; stopped when the test file ends. */
export async function startProjectWorker(
  opts: Omit<StartWorkerOptions, 'connection' | 'workflowBundle'>,
): Promise<{ worker: Worker; stop: () => Promise<void> }> {
  const t = await testTemporal();
  const bundle = await workflowBundle();
  const worker = await createWorker({ ...opts, connection: t.nativeConnection, workflowBundle: bundle });
  return runInBackground(worker);
}

export function runInBackground(worker: Worker): { worker: Worker; stop: () => Promise<void> } {
  const running = worker.run();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
  };
  cleanups.push(stop);
  return { worker, stop };
}
