/**
 * Shared set-up of the client, CLI and UI tests: one lab per test file, a project worker on a fresh task queue whose
 * inventory is the lab's (quick retries, short heartbeat timeouts), and the client API on the same config.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { startLab, type Lab, type LabOptions } from '../../lab';
import { DEFAULT_POLICIES, type StagePolicies } from '../../src/shared/policies';
import { MksysbTapeClient } from '../../src/client';
import { startProjectWorker, testTemporal, type TestTemporal } from '../helpers/temporal';
import type { MksysbTapeConfig } from '../../temporal.config';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'mksysb-tape');

function quickPolicies(): StagePolicies {
  const out = {} as StagePolicies;
  for (const [k, p] of Object.entries(DEFAULT_POLICIES) as [keyof StagePolicies, StagePolicies['write']][]) {
    out[k] = { ...p, ...(p.heartbeatTimeout ? { heartbeatTimeout: '6s' } : {}), initialInterval: '200ms', maximumInterval: '1s' };
  }
  return out;
}

export interface ClientEnv {
  lab: Lab;
  t: TestTemporal;
  config: MksysbTapeConfig;
  api: MksysbTapeClient;
  /** A workflow ID no other test uses, in the project's form. */
  newId(what?: string): string;
  /** Environment for a child process (CLI) on this server, task queue and inventory. */
  cliEnv(): NodeJS.ProcessEnv;
}

export async function clientEnv(opts: { lab?: LabOptions } = {}): Promise<ClientEnv> {
  const t = await testTemporal();
  const lab = await startLab({ mksysbBytes: 3 << 20, ...opts.lab });
  after(() => lab.down());
  const config = t.config({ inventoryPath: lab.inventoryPath, policies: quickPolicies() });
  await startProjectWorker({ config, activityDeps: { pollIntervalMs: 200 } });
  const api = await MksysbTapeClient.connect({ client: t.client, config });
  return {
    lab,
    t,
    config,
    api,
    newId: (what = 'aix01') => `mksysb-tape/${what}/test-${randomUUID().slice(0, 8)}`,
    cliEnv: () => ({
      ...process.env,
      TEMPORAL_ADDRESS: t.address,
      TEMPORAL_NAMESPACE: 'default',
      MKSYSB_TAPE_TASK_QUEUE: config.taskQueue,
      MKSYSB_TAPE_INVENTORY: lab.inventoryPath,
    }),
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs bin/mksysb-tape as a user would, in a child process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, opts: { timeoutMs?: number; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env, cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`mksysb-tape ${args.join(' ')} did not finish within ${(opts.timeoutMs ?? 120_000) / 1000}s\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export { eventually } from '../helpers/eventually';
