/**
 * `npm run dev`: the embedded default. Starts, all on this machine:
 *   - the Temporal dev server (`temporal server start-dev`) with its Web UI, state kept in .data/temporal.db so earlier
 *     runs survive a restart;
 *   - the simulated AIX lab (a source host aix01 and a tape host tapesrv with drive rmt0, real sshd on 127.0.0.1);
 *   - a worker on the lab's inventory, which registers the project's search attributes in the dev server's namespace
 *     when they are missing (MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES defaults to 1 here; 0 makes it refuse instead);
 * then prints the UI address and how to start a first backup, and offers to start one.
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed) stops everything.
 * Options: --no-lab (worker on MKSYSB_TAPE_INVENTORY instead), --port N (gRPC, default 7233),
 * --ui-port N (default 8233), --first-backup (start one without asking), --data-dir D (default .data).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline/promises';
import { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { describeCli, requireTemporalCli } from './temporal-cli';
import { loadConfig } from '../temporal.config';
import { createWorker } from '../src/worker';
import { startLab, type Lab } from '../lab';

const root = path.resolve(__dirname, '..');

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`temporal server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`temporal server did not listen on ${port} within ${timeoutMs / 1000}s`);
}

async function main(): Promise<void> {
  const opts = new Command('dev')
    .option('--port <n>', 'Temporal gRPC port', '7233')
    .option('--ui-port <n>', 'Temporal Web UI port', '8233')
    .option('--no-lab', 'do not start the simulated AIX lab')
    .option('--first-backup', 'start a first backup of the lab without asking')
    .option('--data-dir <dir>', 'where the Temporal database and the lab live', path.join(root, '.data'))
    .parse()
    .opts<{ port: string; uiPort: string; lab: boolean; firstBackup?: boolean; dataDir: string }>();

  // Debian packages the lab needs (sshd, ...), installed when missing, and the Temporal CLI.
  if (opts.lab) execFileSync('bash', [path.join(root, 'scripts', 'system-deps.sh')], { stdio: 'inherit' });
  const cli = requireTemporalCli();
  console.log(describeCli(cli));
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', opts.port,
    '--ui-port', opts.uiPort,
    '--db-filename', path.join(dataDir, 'temporal.db'),
    '--log-level', 'warn',
  ];
  const server = spawn(cli.path, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  let lab: Lab | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping worker, lab and Temporal dev server...');
    await started.shutdown?.();
    await lab?.down().catch((e: Error) => console.error(`lab down: ${e.message}`));
    // Wait for the dev server to close its database and ports: exiting first would leave it behind for a moment (and
    // the next `npm run dev` would find its port taken).
    if (server.exitCode === null && server.signalCode === null) {
      const gone = new Promise<void>((resolve) => server.once('exit', () => resolve()));
      server.kill('SIGTERM');
      const kill = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(kill);
    }
    process.exit(code);
  };
  const started: { shutdown?: () => Promise<void> } = {};
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  // A closed terminal sends SIGHUP; the lab's hosts run in sessions of their own and would outlive us without down().
  process.on('SIGHUP', () => void stop(0));
  server.on('exit', (code) => {
    if (!stopping) {
      console.error(`temporal server exited (code ${code})`);
      void stop(1);
    }
  });

  await waitForPort(Number(opts.port), server);
  const address = `127.0.0.1:${opts.port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'default',
    // The worker sets up the search attributes, as it would on a new namespace of a cluster where it is allowed to.
    MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES: process.env.MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES ?? '1',
  };
  if (opts.lab) {
    lab = await startLab({ dir: path.join(dataDir, 'lab') });
    env.MKSYSB_TAPE_INVENTORY = lab.inventoryPath;
  }
  const config = loadConfig(env);
  const connection = await NativeConnection.connect({ address });
  const worker = await createWorker({ config, connection });
  const running = worker.run();
  started.shutdown = async () => {
    worker.shutdown();
    await running;
  };

  const ui = `http://127.0.0.1:${opts.uiPort}`;
  const firstInput = { source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } };
  console.log(`
Temporal Web UI:  ${ui}
Temporal gRPC:    ${address} (namespace default, task queue ${config.taskQueue})
Inventory:        ${config.inventoryPath}
${lab ? `Lab:              ${lab.hosts.map((h) => `${h.name} (${h.os} ${h.role}, ssh port ${h.port})`).join(', ')}\n` : ''}
Start a backup from the UI (Start Workflow; type mksysbToTape, task queue ${config.taskQueue}, input):
  ${JSON.stringify(firstInput)}
or from a shell:
  TEMPORAL_ADDRESS=${address} MKSYSB_TAPE_INVENTORY=${config.inventoryPath} npx mksysb-tape start --source aix01 --tape tapesrv:rmt0 --wait
Ctrl-C stops everything; workflow history is kept in .data/temporal.db.
`);

  if (lab) {
    let go = !!opts.firstBackup;
    if (!go && process.stdin.isTTY) {
      const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
      const answer = await rl.question('Run a first backup of aix01 to tapesrv:rmt0 now? [Y/n] ');
      rl.close();
      go = !/^n/i.test(answer.trim());
    }
    if (go) {
      const conn = await Connection.connect({ address });
      const client = new Client({ connection: conn, namespace: 'default' });
      const workflowId = `mksysb-tape/aix01/dev-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await client.workflow.start('mksysbToTape', { taskQueue: config.taskQueue, workflowId, args: [firstInput] });
      console.log(`started ${workflowId}: ${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    }
  }
  await running;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
