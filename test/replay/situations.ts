/**
 * The situations whose histories replay.test.ts replays, each driven on the lab the way the tests of
 * test/workflow/operator.test.ts, test/fleet/*.test.ts and test/client/api.test.ts drive it, and each naming the runs
 * it leaves to be recorded. scripts/record-histories.ts runs them one after another on one lab and one worker.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Lab } from '../../lab';
import type { MksysbTapeClient } from '../../src/client';
import { createFleetSchedule, deleteFleetSchedule, describeFleetSchedule } from '../../src/client/fleet-schedule';
import { WORKFLOW_TYPE, progressQuery, volumeLoadedSignal, type BackupProgress } from '../../src/shared/contract';
import { driveLockStateQuery, driveLockWorkflowId, type Drive, type DriveLockState } from '../../src/shared/drive-lock';
import { FLEET_WORKFLOW_TYPE, type FleetInput } from '../../src/shared/fleet';
import type { DriveLockProbeInput } from '../../src/workflows/drive-lock';
import { eventually } from '../helpers/eventually';

export interface SituationContext {
  client: Client;
  api: MksysbTapeClient;
  lab: Lab;
  taskQueue: string;
  /** Records the run's history (its latest run unless runId is given) as `<file>.json`. */
  record(file: string, workflowId: string, runId?: string): Promise<void>;
}

export interface Situation {
  name: string;
  what: string;
  run(ctx: SituationContext): Promise<void>;
}

const MiB = 1 << 20;
const TAPE: Drive = { host: 'tapesrv', device: 'rmt0' };
/** Drives the drive-lock situations hold (no tape is written on them). */
const LOCK_DRIVES = { queue: { host: 'tapesrv', device: 'rmt2' }, gone: { host: 'tapesrv', device: 'rmt3' } } satisfies Record<string, Drive>;

/** Situations wait longer than tests do: a recording runs on a loaded machine too. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 120_000);

function startBackup(ctx: SituationContext, workflowId: string, input: Record<string, unknown> = {}): Promise<WorkflowHandle> {
  return ctx.client.workflow.start(WORKFLOW_TYPE, {
    taskQueue: ctx.taskQueue,
    workflowId,
    args: [{ source: 'aix01', tape: TAPE, overwrite: true, ...input }],
  });
}

async function waitingRun(handle: WorkflowHandle): Promise<BackupProgress> {
  return await waitFor('the run to wait for an operator', async () => {
    const p = await handle.query(progressQuery);
    return p.waiting ? p : undefined;
  });
}

/**
 * A backup whose write of `record` fails past its retries (1 attempt), answered by `answer` while it waits for an
 * operator (the drive is repaired first, so that a retry finishes the run); recorded once the run has ended.
 */
function whileWaiting(name: string, what: string, record: number, answer: (ctx: SituationContext, handle: WorkflowHandle) => Promise<unknown>): Situation {
  return {
    name,
    what,
    async run(ctx) {
      const id = `mksysb-tape/aix01/replay-${name}`;
      await ctx.lab.fault('tapesrv', `write-fail file=${record} always`);
      const handle = await startBackup(ctx, id, { retry: { maxAttempts: 1 } });
      await waitingRun(handle);
      await ctx.lab.clearFaults('tapesrv');
      await answer(ctx, handle);
      await closed(handle);
      await ctx.record(name, id);
    },
  };
}

/** Waits for the run to close, whatever its end. */
/** A writeWhileMksysb backup of a 24 MiB image made at 4 MiB/s, recorded as `name`. */
function writeWhileMksysb(name: string, what: string): Situation {
  return {
    name,
    what,
    async run(ctx) {
      const id = `mksysb-tape/aix01/replay-${name}`;
      await withSlowMksysb(ctx, 24 * MiB, 4 * MiB, async () => (await startBackup(ctx, id, { writeWhileMksysb: true })).result());
      await ctx.record(name, id);
    },
  };
}

async function closed(handle: WorkflowHandle): Promise<void> {
  await handle.result().catch(() => undefined);
}

function startProbe(ctx: SituationContext, workflowId: string, input: DriveLockProbeInput): Promise<WorkflowHandle> {
  return ctx.client.workflow.start('driveLockProbe', { taskQueue: ctx.taskQueue, workflowId, args: [input] });
}

async function lockState(ctx: SituationContext, d: Drive): Promise<DriveLockState> {
  return await ctx.client.workflow.getHandle(driveLockWorkflowId(d, ctx.taskQueue)).query(driveLockStateQuery);
}

/** Every run of a workflow ID, oldest first (a drive lock's chain of continue-as-new runs). */
async function runsOf(ctx: SituationContext, workflowId: string): Promise<string[]> {
  const runs: { runId: string; start: number }[] = [];
  for await (const w of ctx.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs.push({ runId: w.runId, start: w.startTime.getTime() });
  }
  return runs.sort((a, b) => a.start - b.start).map((r) => r.runId);
}

/** Runs `fn` with aix01's mksysb making `bytes` at `rate`, then gives aix01 the recorder's usual small image again. */
async function withSlowMksysb(ctx: SituationContext, bytes: number, rate: number, fn: () => Promise<unknown>): Promise<void> {
  await ctx.lab.setHostConfig('aix01', { mksysbBytes: bytes, mksysbBytesPerSecond: rate });
  try {
    await fn();
  } finally {
    await ctx.lab.setHostConfig('aix01', { mksysbBytes: 3 * MiB, mksysbBytesPerSecond: undefined });
  }
}

export const SITUATIONS: Situation[] = [
  {
    name: 'worker-ping',
    what: 'the health check: one activity',
    async run(ctx) {
      const id = 'mksysb-tape/ping/replay';
      await ctx.client.workflow.execute('workerPing', { taskQueue: ctx.taskQueue, workflowId: id });
      await ctx.record('worker-ping', id);
    },
  },
  {
    name: 'backup-succeeds',
    what: 'a backup from validation to clean-up, tape verified',
    async run(ctx) {
      const id = 'mksysb-tape/aix01/replay-succeeds';
      await (await startBackup(ctx, id)).result();
      await ctx.record('backup-succeeds', id);
    },
  },
  // Recorded before the tape was checked in mksysb's time (its history has no CHECK_WHILE_MKSYSB marker), and since.
  writeWhileMksysb('write-while-mksysb', 'writeWhileMksysb: records 1-3 written and record 4 streamed while mksysb runs, sealed when it ends, then verified'),
  writeWhileMksysb(
    'write-while-mksysb-checked',
    'writeWhileMksysb since the tape is checked in mksysb\'s time: records 1-3 read back while mksysb runs, record 4 checked when the stream ends',
  ),
  {
    name: 'write-retried',
    what: 'a write of record 3 fails once and its activity retry writes it',
    async run(ctx) {
      const id = 'mksysb-tape/aix01/replay-write-retried';
      await ctx.lab.fault('tapesrv', 'write-fail file=3 nth=1');
      await (await startBackup(ctx, id, { retry: { maxAttempts: 3 } })).result();
      await ctx.lab.clearFaults('tapesrv');
      await ctx.record('write-retried', id);
    },
  },
  whileWaiting('operator-retry-signal', 'record 3 fails past its retries; the `retry` signal with fromRecord 2 finishes the run', 3, (_, h) =>
    h.signal('retry', { fromRecord: 2, reason: 'drive cleaned' }),
  ),
  whileWaiting('operator-retry-update', 'record 4 fails past its retries; the `retryNow` update (client API retry) finishes the run', 4, (ctx, h) =>
    ctx.api.retry(h.workflowId, { reason: 'new cartridge' }),
  ),
  whileWaiting('operator-abort-signal', 'record 4 fails past its retries; the `abort` signal ends the run', 4, (_, h) =>
    h.signal('abort', { reason: 'cartridge damaged' }),
  ),
  whileWaiting('operator-abort-update', 'record 2 fails past its retries; the `abortNow` update (client API abort) ends the run', 2, (ctx, h) =>
    ctx.api.abort(h.workflowId, { reason: 'drive sent for repair' }),
  ),
  {
    name: 'multi-volume',
    what: 'a backup spanning three cartridges: each full one ejected, the next answered with the volumeLoaded signal, then the volumeLoadedNow update',
    async run(ctx) {
      const id = 'mksysb-tape/aix02/replay-multi-volume';
      const drive = { host: 'tapesrv', device: 'rmt1' };
      ctx.lab.load('tapesrv', 'rmt1', { name: 'rmt1', capacityBytes: 2 * MiB });
      const handle = await startBackup(ctx, id, { source: 'aix02', tape: drive, maxVolumes: 3 });
      for (const volume of [2, 3]) {
        await waitFor(`the run to ask for the cartridge of volume ${volume}`, async () => {
          const p = await handle.query(progressQuery);
          return p.waiting?.for === 'cartridge' && p.waiting.volume === volume ? p : undefined;
        });
        ctx.lab.load('tapesrv', 'rmt1', { capacityBytes: 2 * MiB });
        if (volume === 2) await handle.signal(volumeLoadedSignal, {});
        else await ctx.api.volumeLoaded(id, { volume });
      }
      await handle.result();
      await ctx.record('multi-volume', id);
      // The fleet situations write on rmt1 too: give it a blank cartridge of the lab's usual size again.
      ctx.lab.load('tapesrv', 'rmt1', { name: 'rmt1-blank', capacityBytes: 4096 * MiB });
    },
  },
  whileWaiting('cancel-while-waiting', 'the run is cancelled while it waits for an operator', 4, (_, h) => h.cancel()),
  {
    name: 'verify-restages',
    what: 'no cartridge at first (the run waits at tape-prepare; `retry` once it is loaded), the staged mksysb image corrupted meanwhile: the verify round finds record 4 bad, the image is moved again and record 4 rewritten',
    async run(ctx) {
      const id = 'mksysb-tape/aix01/replay-verify-restages';
      await ctx.lab.fault('tapesrv', 'no-tape');
      const handle = await startBackup(ctx, id, { retry: { maxAttempts: 1 } });
      const p = await waitingRun(handle);
      const tape = ctx.lab.host('tapesrv');
      const fd = fs.openSync(path.join(tape.root, tape.workFolder, p.backupId, '4_mksysb.img'), 'r+');
      fs.writeSync(fd, Buffer.from('corrupted'), 0, 9, 4096);
      fs.closeSync(fd);
      await ctx.lab.clearFaults('tapesrv');
      await handle.signal('retry', {});
      await handle.result();
      await ctx.record('verify-restages', id);
    },
  },
  {
    name: 'cancel-during-mksysb',
    what: 'the run is cancelled while mksysb runs on the source',
    async run(ctx) {
      const id = 'mksysb-tape/aix01/replay-cancel-mksysb';
      await withSlowMksysb(ctx, 64 * MiB, 2 * MiB, async () => {
        const handle = await startBackup(ctx, id);
        await waitFor('mksysb running', async () => {
          const p = await handle.query(progressQuery);
          const ps = await ctx.lab.exec('aix01', 'ps -e -o args');
          return p.stage === 'images' && p.record === 4 && /mksysb -i -p/.test(ps.stdout) ? true : undefined;
        });
        await handle.cancel();
        await closed(handle);
      });
      await ctx.record('cancel-during-mksysb', id);
    },
  },
  {
    name: 'fleet-failing-child',
    what: 'a fleet of 3 sources on 2 drives in which one child fails (its mksysb exits 71); the others go on',
    async run(ctx) {
      const id = 'mksysb-fleet/replay-failing-child';
      await ctx.lab.fault('aix03', 'exit command=mksysb code=71 message="0512-005 mksysb: backup of rootvg failed" always');
      const input: FleetInput = {
        sources: ['aix02', 'aix03', 'aix04'],
        drives: [TAPE, { host: 'tapesrv', device: 'rmt1' }],
        backupInput: { overwrite: true, retry: { maxAttempts: 2 }, operatorWaitHours: 0 },
      };
      await ctx.client.workflow.execute(FLEET_WORKFLOW_TYPE, { taskQueue: ctx.taskQueue, workflowId: id, args: [input] });
      await ctx.lab.clearFaults('aix03');
      await ctx.record('fleet-failing-child', id);
      await ctx.record('fleet-failing-child.aix03', `${id}/aix03`);
      await ctx.record('fleet-failing-child.aix02', `${id}/aix02`);
    },
  },
  {
    name: 'fleet-continues-as-new',
    what: 'a fleet of 3 sources on 1 drive bounded to 1 event: each run starts one child and continues as new, the later runs awaiting the earlier children',
    async run(ctx) {
      const id = 'mksysb-fleet/replay-continues';
      const input: FleetInput = {
        sources: ['aix02', 'aix03', 'aix04'],
        drives: [TAPE],
        maxHistoryEvents: 1,
        backupInput: { overwrite: true, retry: { maxAttempts: 2 }, operatorWaitHours: 0 },
      };
      await ctx.client.workflow.execute(FLEET_WORKFLOW_TYPE, { taskQueue: ctx.taskQueue, workflowId: id, args: [input] });
      const runs = await waitFor('the fleet\'s runs listed', async () => {
        const r = await runsOf(ctx, id);
        return r.length >= 3 ? r : undefined;
      });
      for (const [i, runId] of runs.entries()) await ctx.record(`fleet-continues-as-new.run${i + 1}`, id, runId);
    },
  },
  {
    name: 'drive-lock-queue',
    what: 'five probes queue on one drive, each handed the drive in turn, the lock continuing as new every 25 events',
    async run(ctx) {
      const d = LOCK_DRIVES.queue;
      const ids = [0, 1, 2, 3, 4].map((i) => `drive-probe/replay-queue-${i}`);
      const handles: WorkflowHandle[] = [];
      for (const id of ids) handles.push(await startProbe(ctx, id, { drive: d, holdSeconds: 1, label: id, maxHistoryEvents: 25 }));
      await Promise.all(handles.map((h) => h.result()));
      const lockId = driveLockWorkflowId(d, ctx.taskQueue);
      await waitFor('every grant released', async () => {
        const s = await lockState(ctx, d);
        return s.grants === ids.length && s.holder === null ? true : undefined;
      });
      const runs = await waitFor('the lock\'s runs listed', async () => {
        const r = await runsOf(ctx, lockId);
        return r.length >= 3 ? r : undefined;
      });
      for (const [i, runId] of runs.entries()) await ctx.record(`drive-lock-queue.run${i + 1}`, lockId, runId);
      await ctx.record('drive-lock-queue.probe-first', ids[0]!);
      await ctx.record('drive-lock-queue.probe-waited', ids[ids.length - 1]!);
    },
  },
  {
    name: 'drive-lock-holder-gone',
    what: 'the holder of a drive is terminated; the lock\'s holder check sees it gone and hands the drive to the waiter',
    async run(ctx) {
      const d = LOCK_DRIVES.gone;
      const holder = await startProbe(ctx, 'drive-probe/replay-gone-holder', { drive: d, holdSeconds: 3600, holderCheckSeconds: 1 });
      await waitFor('the holder to hold the drive', async () => ((await lockState(ctx, d)).holder?.workflowId === holder.workflowId ? true : undefined));
      const waiter = await startProbe(ctx, 'drive-probe/replay-gone-waiter', { drive: d, holdSeconds: 1 });
      await waitFor('the waiter queued', async () => ((await lockState(ctx, d)).queue.length === 1 ? true : undefined));
      await holder.terminate('replay recording: holder killed');
      await waiter.result();
      const lockId = driveLockWorkflowId(d, ctx.taskQueue);
      await waitFor('the waiter released', async () => ((await lockState(ctx, d)).recent.length === 2 ? true : undefined));
      await ctx.record('drive-lock-holder-gone', lockId);
      await ctx.record('drive-lock-holder-gone.waiter', waiter.workflowId);
    },
  },
  {
    name: 'schedule-backup',
    what: 'a backup started by a Temporal Schedule (triggered now)',
    async run(ctx) {
      const scheduleId = 'mksysb-tape/aix01/replay-nightly';
      await ctx.api.createSchedule({ scheduleId, input: { source: 'aix01', tape: TAPE, overwrite: true }, cron: '0 2 * * *', paused: true });
      try {
        await ctx.api.triggerSchedule(scheduleId);
        const action = await waitFor('the triggered run', async () => (await ctx.api.describeSchedule(scheduleId)).recentActions[0]);
        await ctx.api.result(action.workflowId);
        await ctx.record('schedule-backup', action.workflowId);
      } finally {
        await ctx.api.deleteSchedule(scheduleId);
      }
    },
  },
  {
    name: 'schedule-fleet',
    what: 'a fleet started by a fleet schedule (triggered now)',
    async run(ctx) {
      const scheduleId = 'replay-nightly-fleet';
      await createFleetSchedule(ctx.client, {
        scheduleId,
        cron: '0 1 * * *',
        timeZone: 'Europe/Berlin',
        paused: true,
        taskQueue: ctx.taskQueue,
        input: { sources: ['aix02', 'aix04'], drives: [TAPE], backupInput: { overwrite: true } },
      });
      try {
        await ctx.client.schedule.getHandle(scheduleId).trigger();
        const fleetId = await waitFor('the triggered fleet', async () => (await describeFleetSchedule(ctx.client, scheduleId)).recentActions[0]?.workflowId);
        await ctx.client.workflow.getHandle(fleetId).result();
        await ctx.record('schedule-fleet', fleetId);
      } finally {
        await deleteFleetSchedule(ctx.client, scheduleId);
      }
    },
  },
];
