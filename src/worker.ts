/**
 * Starts a worker on the configuration of temporal.config.ts.
 *
 *   npm run worker                     (workflow code bundled at start-up)
 *   MKSYSB_TAPE_WORKFLOW_BUNDLE=lib/workflow-bundle.js node lib/src/worker.js   (production: `npm run build` first)
 *
 * Logs go through the SDK's Runtime logger; MKSYSB_TAPE_METRICS=host:port exposes Prometheus metrics. SIGINT/SIGTERM
 * start a graceful shutdown: running activities are cancelled with a grace period in which they heartbeat their last
 * progress, so the next attempt resumes where this one stopped.
 *
 * Before polling it checks that the namespace has the project's search attributes (src/namespace-setup.ts): without
 * them it exits with status 78 (EX_CONFIG) and prints the `temporal operator search-attribute create` line, or, with
 * MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES=1, registers them. MKSYSB_TAPE_DEPLOYMENT_NAME and MKSYSB_TAPE_BUILD_ID
 * make it a versioned worker of that deployment (Worker Deployment Versioning, src/workflows/versioning.ts).
 * MKSYSB_TAPE_NOTIFY_* name who is told when a run waits for a person (docs/notifications.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkerOptions } from '@temporalio/worker';
import { loadConfig, type MksysbTapeConfig } from '../temporal.config';
import { createActivities, type ActivityDeps } from './activities';
import { SearchAttributesMissingError } from './client/errors';
import { ensureSearchAttributes } from './namespace-setup';
import { DEFAULT_VERSIONING_BEHAVIOR } from './shared/versioning';
import { SshPool } from './ssh';

export const WORKFLOWS_PATH = require.resolve('./workflows');

export interface StartWorkerOptions {
  config: MksysbTapeConfig;
  connection?: NativeConnection;
  /** Workflow code bundled ahead by bundleWorkflowCode (production, tests); default: config's bundle path, else
   * bundle src/workflows now. */
  workflowBundle?: { codePath: string } | { code: string };
  activityDeps?: Partial<ActivityDeps>;
  identity?: string;
}

export async function createWorker(opts: StartWorkerOptions): Promise<Worker> {
  const { config } = opts;
  const connection = opts.connection ?? (await NativeConnection.connect(config.connect.connectionOptions));
  // A namespace without the attributes would fail the first workflow task of every backup, retried for ever.
  await ensureSearchAttributes(connection, config.connect.namespace, {
    register: config.registerSearchAttributes,
    log: Runtime.instance().logger,
  });
  const bundle =
    opts.workflowBundle ??
    (config.workflowBundlePath ? { codePath: path.resolve(config.workflowBundlePath) } : undefined);
  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = bundle
    ? { workflowBundle: bundle }
    : { workflowsPath: WORKFLOWS_PATH };
  // SSH connections are reused per host for the worker's life; they and the activities' own Temporal connection
  // (drive locks and fleets talk to Temporal from activities) are closed when the worker stops.
  const sshPool = opts.activityDeps?.sshPool ?? new SshPool();
  const ownConnection = opts.activityDeps?.temporalClient ? undefined : Connection.lazy(config.connect.connectionOptions);
  const temporalClient =
    opts.activityDeps?.temporalClient ?? new Client({ connection: ownConnection!, namespace: config.connect.namespace });
  const worker = await Worker.create({
    connection,
    namespace: config.connect.namespace,
    taskQueue: config.taskQueue,
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(config.deployment
      ? {
          workerDeploymentOptions: {
            version: config.deployment,
            useWorkerVersioning: true,
            defaultVersioningBehavior: DEFAULT_VERSIONING_BEHAVIOR,
          },
        }
      : {}),
    ...workflowSource,
    activities: createActivities({
      inventoryPath: config.inventoryPath,
      policies: config.policies,
      pollIntervalMs: config.pollIntervalMs,
      notify: config.notify,
      relayVia: config.relayVia,
      ...opts.activityDeps,
      sshPool,
      temporalClient,
    }),
    shutdownGraceTime: '15s',
    // The SDK sends an activity's heartbeats at most every 0.8 x its heartbeat timeout by default: 4.8 s of a 6 s
    // timeout leaves a loaded worker 1.2 s before the server gives up on a healthy attempt. Every 2 s leaves most of
    // the timeout as margin, and a cancellation or a timed-out attempt reaches the activity within 2 s.
    maxHeartbeatThrottleInterval: '2s',
  });
  const run = worker.run.bind(worker);
  worker.run = async () => {
    try {
      await run();
    } finally {
      await sshPool.closeAll();
      await ownConnection?.close();
    }
  };
  return worker;
}

/** sysexits' EX_CONFIG: the worker will not start until the namespace is set up. */
export const EXIT_CONFIG = 78;

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({
    logger: new DefaultLogger((process.env.MKSYSB_TAPE_LOG_LEVEL as LogLevel | undefined) ?? 'INFO'),
    telemetryOptions: config.metricsAddress
      ? { metrics: { prometheus: { bindAddress: config.metricsAddress } } }
      : undefined,
  });
  const log = Runtime.instance().logger;
  if (!fs.existsSync(config.inventoryPath)) {
    log.warn(`inventory ${config.inventoryPath} does not exist yet; backups will fail validation until it does`);
  }
  const worker = await createWorker({ config });
  log.info('worker started', {
    address: config.connect.connectionOptions.address,
    namespace: config.connect.namespace,
    taskQueue: config.taskQueue,
    inventory: config.inventoryPath,
    metrics: config.metricsAddress ?? 'off',
    deployment: config.deployment ? `${config.deployment.deploymentName} build ${config.deployment.buildId}` : 'unversioned',
    // Channels by kind only: a webhook URL may hold a token.
    notify: [config.notify.webhook ? 'webhook' : '', config.notify.command ? 'command' : ''].filter(Boolean).join(', ') || 'off',
  });
  await worker.run();
  log.info('worker stopped');
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      // A setup problem gets its message only (it says what to run), and a status a supervisor can tell apart.
      if (err instanceof SearchAttributesMissingError) {
        console.error(`mksysb-tape worker: ${err.message}`);
        process.exit(EXIT_CONFIG);
      }
      console.error(err);
      process.exit(1);
    },
  );
}
