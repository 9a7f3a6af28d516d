/**
 * A lab and a project worker on a fresh task queue, for workflow tests: `startLab` hosts, the worker's inventory is
 * the lab's, polls are quick and heartbeat timeouts short so that a lost worker is noticed in seconds.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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
import { workerLogStdio } from './worker-log';
import { hetget, tapemap } from '../lab/helpers';
import type { MksysbTapeConfig } from '../../temporal.config';
import type { ActivityDeps } from '../../src/activities';

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

export async function backupEnv(
  opts: { lab?: LabOptions; worker?: boolean; policies?: StagePolicies; activityDeps?: Partial<ActivityDeps> } = {},
): Promise<BackupEnv> {
  const t = await testTemporal();
  const lab = await startLab({ mksysbBytes: 3 << 20, ...opts.lab });
  after(() => lab.down());
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mksysb-wf-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const config = t.config({ inventoryPath: lab.inventoryPath, policies: opts.policies ?? testPolicies() });
  if (opts.worker !== false) await startProjectWorker({ config, activityDeps: { pollIntervalMs: 200, ...opts.activityDeps } });
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

/** Tape files written on a drive, in order, from the lab's command log (`dd` entries with a tape write). */
export async function tapeWrites(env: BackupEnv, tapeHost = 'tapesrv', device = 'rmt0'): Promise<{ file: number; exit: number }[]> {
  const log = await env.lab.commandLog(tapeHost);
  return log
    .filter((e) => e.command === 'dd')
    .map((e) => ({ e, tape: e.tape as { device: string; op: string; file: number } | undefined }))
    .filter(({ tape }) => tape?.op === 'write' && tape.device === device)
    .map(({ e, tape }) => ({ file: tape!.file, exit: e.exit }));
}

/**
 * Flips one bit of record 4 on a cartridge of 512-byte blocks: in its 2000th block, after the third tapemark (AWSTAPE
 * block headers are 6 bytes).
 */
export function flipRecord4Bit(env: BackupEnv, tapeHost = 'tapesrv', device = 'rmt0'): void {
  const st = env.lab.tapeState(tapeHost, device);
  const at = st.marks[2]! + 6 + 2000 * 518 + 6 + 300;
  const fd = fs.openSync(env.lab.host(tapeHost).devices![device]!.aws, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x40;
    fs.writeSync(fd, b, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** How many times each AIX image command ran on the source. */
export async function sourceRuns(env: BackupEnv, host = 'aix01'): Promise<Record<'bosboot' | 'mkinsttape' | 'mksysb', number>> {
  const log = await env.lab.commandLog(host);
  const count = (c: string) => log.filter((e) => e.command === c && e.exit !== -1).length;
  return { bosboot: count('bosboot'), mkinsttape: count('mkinsttape'), mksysb: count('mksysb') };
}

/** Asserts the cartridge holds the bootable layout of the given source images (Hercules' tapemap and hetget). */
export async function assertTapeHolds(env: BackupEnv, img: { boot: Buffer; install: Buffer; mksysb: Buffer }, device = 'rmt0', tapeHost = 'tapesrv'): Promise<void> {
  const { map, files } = await readCartridge(env, img, device, tapeHost);
  assert.equal(map.files.length, 4, map.raw);
  assert.ok(files[0]!.equals(padTo(img.boot, 512)), 'file 1 is the boot image padded to 512');
  assert.ok(files[1]!.equals(img.install), 'file 2 is the install image');
  assert.ok(files[2]!.equals(padTo(Buffer.from('Dummy tape TOC\n'), 512)), 'file 3 is the dummy TOC');
  assert.equal(sha256(files[3]!), sha256(img.mksysb), 'file 4 is the mksysb image');
}

/** The results of a run's completed activities, in order, with each activity's type (from the run's history). */
export async function activityResults(handle: WorkflowHandle): Promise<{ type: string; value: unknown }[]> {
  const { defaultPayloadConverter } = await import('@temporalio/common');
  const history = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const results: { type: string; value: unknown }[] = [];
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
    const done = e.activityTaskCompletedEventAttributes;
    if (done?.result?.payloads?.[0]) {
      results.push({ type: scheduled.get(String(done.scheduledEventId)) ?? '', value: defaultPayloadConverter.fromPayload(done.result.payloads[0] as never) });
    }
  }
  return results;
}

/**
 * Holds the source's mksysb once its image has `at` bytes, until `release`: what a test sees happen meanwhile happened
 * while mksysb ran, however slowly a loaded machine gets to it (a mksysb of a few seconds is no such promise). A test
 * that waits for record 4's bytes on the cartridge holds it past 8 MiB: the lab's dd takes a pipe's input in pieces of
 * up to 8 MiB (in effect the drive's buffer) before they reach the tape.
 */
export async function holdMksysb(env: BackupEnv, at: number): Promise<{ release: () => Promise<void> }> {
  await env.lab.fault('aix01', `pause-mksysb at=${at}`);
  return {
    release: async () => {
      assert.equal(await mksysbEnded(env), false, 'mksysb was held until now');
      await env.lab.clearFaults('aix01');
    },
  };
}

/** Whether a mksysb on the source has ended (its log entry is written as it exits). */
export async function mksysbEnded(env: BackupEnv): Promise<boolean> {
  return (await env.lab.commandLog('aix01')).some((e) => e.command === 'mksysb' && e.exit !== -1);
}

/** Polls until `fn` returns a truthy value (or throws after `ms`). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/**
 * The project's worker as a separate process (`src/worker.ts`, configured by environment variables only), so a test
 * can SIGKILL it as a crash would.
 */
export function spawnWorker(env: BackupEnv): { child: ChildProcess; exited: Promise<number | null> } {
  const root = path.resolve(__dirname, '..', '..');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'worker.ts')], {
    cwd: root,
    stdio: ['ignore', 'ignore', workerLogStdio()],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.t.address,
      TEMPORAL_NAMESPACE: 'default',
      MKSYSB_TAPE_TASK_QUEUE: env.config.taskQueue,
      MKSYSB_TAPE_INVENTORY: env.config.inventoryPath,
      MKSYSB_TAPE_POLICIES: JSON.stringify(env.config.policies),
      MKSYSB_TAPE_POLL_INTERVAL_MS: '200',
      MKSYSB_TAPE_LOG_LEVEL: 'WARN',
      ...(env.t.bundlePath ? { MKSYSB_TAPE_WORKFLOW_BUNDLE: env.t.bundlePath } : {}),
    },
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, exited };
}
