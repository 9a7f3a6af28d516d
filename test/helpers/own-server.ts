/**
 * A Temporal dev server of a test file's own, for what the run's shared server cannot show: a namespace without the
 * project's search attributes, or extra namespaces and dynamic config. Torn down when the file ends.
 */
import { after } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { requireTemporalCli } from '../../scripts/temporal-cli';

export interface OwnServer {
  address: string;
  cli: string;
  connection: Connection;
  nativeConnection: NativeConnection;
  client(namespace?: string): Client;
  /** Runs a worker on this server until the file ends (stopped before the server). */
  run(worker: Worker): void;
}

export async function ownServer(
  opts: {
    namespaces?: string[];
    /** Register the project's search attributes in `default`, as the run's shared server does. Default: none. */
    searchAttributes?: boolean;
    extraArgs?: string[];
  } = {},
): Promise<OwnServer> {
  // Registered before the first await, so that it belongs to the caller's test (or the file, called at its top).
  const running: Array<{ worker: Worker; done: Promise<void> }> = [];
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const r of running) if (r.worker.getState() === 'RUNNING') r.worker.shutdown();
    await Promise.all(running.map((r) => r.done));
    for (const close of closers.reverse()) await close();
  });
  const cli = process.env.MKSYSB_TEST_TEMPORAL_CLI || requireTemporalCli().path;
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      ...(opts.searchAttributes ? { searchAttributes: [...SEARCH_ATTRIBUTES] } : {}),
      // start-dev registers these namespaces before it listens, so they are usable at once.
      extraArgs: [...(opts.namespaces ?? []).flatMap((n) => ['--namespace', n]), ...(opts.extraArgs ?? [])],
    },
  });
  closers.push(() => env.teardown());
  const connection = await Connection.connect({ address: env.address });
  closers.push(() => connection.close());
  const nativeConnection = await NativeConnection.connect({ address: env.address });
  closers.push(() => nativeConnection.close());
  return {
    address: env.address,
    cli,
    connection,
    nativeConnection,
    client: (namespace = 'default') => new Client({ connection, namespace }),
    run: (worker) => void running.push({ worker, done: worker.run() }),
  };
}
