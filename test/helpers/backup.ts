/**
 * A lab and a project worker on a fresh task queue, for workflow tests: `startLab` hosts, the worker's inventory is
 * the lab's, polls are quick and heartbeat timeouts short so that a lost worker is noticed in seconds.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { startLab, type Lab, type LabOptions } from '../../lab';
import { DEFAULT_POLICIES, type StagePolicies } from '../../src/shared/policies';
import type { BackupInput, BackupResult } from '../../src/shared/contract';
import { startProjectWorker, testTemporal, type TestTemporal } from './temporal';
import { hetget, tapemap } from '../lab/helpers';
import type { MksysbTapeConfig } from '../../temporal.config';

/** Policies for tests: short heartbeat timeouts and back-off, so retries and lost workers take seconds. */
export function testPolicies(overrides: Partial<Record<keyof StagePolicies, Partial<StagePolicies['write']>>> = {}): StagePolicies {
  const out = {} as StagePolicies;
  for (const [k, p] of Object.entries(DEFAULT_POLICIES) as [keyof StagePolicies, StagePolicies['write']][]) {
    out[k] = {
      ...p,
      ...(p.heartbeatTimeout ? { heartbeatTimeout: '6s' } : {}),
      initialInterval: '200ms',
      maximumInterval: '1s',
      ...overrides[k],
    };
  }
  return out;
}

export interface BackupEnv {
  lab: Lab;
  t: TestTemporal;
  config: MksysbTapeConfig;
  start(input: Partial<BackupInput> & Record<string, unknown>, workflowId?: string): Promise<WorkflowHandle>;
  run(input: Partial<BackupInput> & Record<string, unknown>, workflowId?: string): Promise<BackupResult>;
  tmp: string;
}

export async function backupEnv(opts: { lab?: LabOptions; worker?: boolean; policies?: StagePolicies } = {}): Promise<BackupEnv> {
  const t = await testTemporal();
  const lab = await startLab({ mksysbBytes: 3 << 20, ...opts.lab });
  after(() => lab.down());
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mksysb-wf-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const config = t.config({ inventoryPath: lab.inventoryPath, policies: opts.policies ?? testPolicies() });
  if (opts.worker !== false) await startProjectWorker({ config, activityDeps: { pollIntervalMs: 200 } });
  const start = (input: Record<string, unknown>, workflowId = `mksysb-tape/test/${randomUUID()}`) =>
    t.client.workflow.start('mksysbToTape', {
      taskQueue: config.taskQueue,
      workflowId,
      args: [{ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' }, ...input }],
    });
  return {
    lab,
    t,
    config,
    tmp,
    start,
    run: async (input, workflowId) => (await (await start(input, workflowId)).result()) as BackupResult,
  };
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Reads the cartridge with Hercules' tools (tapemap, hetget) and checks the bootable layout against the source's
 * images: 4 files; file 1 = boot image padded with NULs to 512; file 2 = install image; file 3 = "Dummy tape TOC\n"
 * padded to 512; file 4 = the mksysb image, byte for byte.
 */
export async function readCartridge(env: BackupEnv, images: { boot: Buffer; install: Buffer; mksysb: Buffer }, device = 'rmt0', tapeHost = 'tapesrv') {
  const aws = env.lab.host(tapeHost).devices![device]!.aws;
  const map = await tapemap(aws);
  const files = await Promise.all([1, 2, 3, 4].map((n) => hetget(aws, n, env.tmp)));
  return { map, files };
}

/** The images as the source host staged them (read straight from its file tree). */
export function sourceImages(env: BackupEnv, backupId: string, host = 'aix01'): { boot: Buffer; install: Buffer; mksysb: Buffer } {
  const h = env.lab.host(host);
  const dir = path.join(h.root, h.workFolder, backupId);
  return {
    boot: fs.readFileSync(path.join(dir, '1_bosboot.img')),
    install: fs.readFileSync(path.join(dir, '2_mkinsttape.img')),
    mksysb: fs.readFileSync(path.join(dir, '4_mksysb.img')),
  };
}

export function padTo(b: Buffer, block: number): Buffer {
  const n = Math.ceil(b.length / block) * block;
  return Buffer.concat([b, Buffer.alloc(n - b.length)]);
}
