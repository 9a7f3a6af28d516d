/**
 * The client API against a real Temporal dev server, a real worker and the lab: starts that refuse a second tape,
 * waiting runs answered with retry and abort, listing failed runs by host through search attributes, schedules, and
 * a start by the Temporal CLI (a client nobody here wrote).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { BackupAlreadyStartedError, InputValidationError, OperatorRequestRejectedError, ScheduleError } from '../../src/client';
import { SA_OUTCOME, SA_SOURCE } from '../../src/shared/search-attributes';
import { requireTemporalCli } from '../../scripts/temporal-cli';
import { clientEnv, eventually } from './env';

const execFileP = promisify(execFile);
const TAPE = { host: 'tapesrv', device: 'rmt0' };

test('client API', async (t) => {
  const env = await clientEnv();
  const { api, lab } = env;

  await t.test('a backup runs to the end; a second start of the same backup is refused after it succeeded', async () => {
    const workflowId = env.newId();
    const s = await api.start({ source: 'aix01', tape: TAPE }, { workflowId });
    assert.equal(s.started, true);
    assert.equal(s.resolved.backupId, workflowId.replace(/\//g, '_'));
    const result = await api.result(workflowId);
    assert.deepEqual(result.records.map((r) => r.record), [1, 2, 3, 4]);
    assert.equal(result.verification.readBack, true);

    const status = await api.status(workflowId);
    assert.equal(status.status, 'COMPLETED');
    assert.equal(status.summary, 'mksysb of aix01 to tapesrv:rmt0');
    assert.equal(status.source, 'aix01');
    assert.equal(status.outcome, 'succeeded');
    assert.equal(status.result?.backupId, result.backupId);
    const desc = await api.handle(workflowId).describe();
    assert.match((await desc.staticDetails()) ?? '', /backup ID: `mksysb-tape_aix01_test-/);

    const again = await api.start({ source: 'aix01', tape: TAPE }, { workflowId }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(again instanceof BackupAlreadyStartedError, `expected BackupAlreadyStartedError, got ${String(again)}`);
    assert.equal(again.existingStatus, 'COMPLETED');
    assert.match(again.message, /already succeeded; it is not written twice/);
  });

  await t.test('bad input is refused before anything starts, with the workflow\'s own messages', async () => {
    const workflowId = env.newId();
    const err = await api.start({ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' }, record4BlockSize: 1000 }, { workflowId }).catch((e: unknown) => e);
    assert.ok(err instanceof InputValidationError);
    assert.match(err.message, /record4BlockSize 1000: must be a multiple of 512/);
    await assert.rejects(api.status(workflowId), /no backup with workflow ID/);
  });

  await t.test('a run waiting after tape failures refuses a second start, shows why, and finishes on retry', async () => {
    await lab.fault('tapesrv', 'write-fail file=4 always');
    const workflowId = env.newId();
    await api.start({ source: 'aix01', tape: TAPE, overwrite: true, retry: { maxAttempts: 1 } }, { workflowId });
    const waiting = await eventually('the run to wait for an operator', async () => {
      const s = await api.status(workflowId);
      return s.progress?.waiting ? s : undefined;
    });
    assert.equal(waiting.progress!.outcome, 'waiting');
    assert.equal(waiting.progress!.waiting!.stage, 'tape-write');
    assert.equal(waiting.progress!.waiting!.record, 4);
    assert.match(waiting.progress!.waiting!.reason, /record 4|I\/O|EIO/i);

    const second = await api.start({ source: 'aix01', tape: TAPE }, { workflowId }).catch((e: unknown) => e);
    assert.ok(second instanceof BackupAlreadyStartedError);
    assert.equal(second.existingStatus, 'RUNNING');
    const attached = await api.start({ source: 'aix01', tape: TAPE }, { workflowId, ifRunning: 'use-existing' });
    assert.equal(attached.started, false);
    assert.equal(attached.runId, waiting.runId);

    await eventually('outcome "waiting" in visibility', async () => {
      const runs = await api.list({ source: 'aix01', outcome: 'waiting' });
      return runs.some((r) => r.workflowId === workflowId) ? true : undefined;
    });

    await lab.clearFaults('tapesrv');
    const answer = await api.retry(workflowId, { reason: 'cleaned the drive' });
    assert.match(answer, /retrying/);
    const result = await api.result(workflowId);
    // `writes` counts completed writes: the failed attempt did not complete, the retried one did.
    assert.equal(result.records.find((r) => r.record === 4)!.writes, 1);
    assert.equal(result.verification.readBack, true);
    const done = await api.status(workflowId);
    assert.equal(done.outcome, 'succeeded');
    await assert.rejects(api.retry(workflowId), (e: unknown) => e instanceof OperatorRequestRejectedError && /already closed/.test(e.message));
  });

  await t.test('abort stops a waiting run with the operator\'s reason; outcome aborted', async () => {
    await lab.fault('tapesrv', 'write-fail file=2 always');
    const workflowId = env.newId();
    await api.start({ source: 'aix01', tape: TAPE, overwrite: true, retry: { maxAttempts: 1 } }, { workflowId });
    const w = await eventually('the run to wait', async () => (await api.status(workflowId)).progress?.waiting);
    assert.equal(w.stage, 'tape-write');
    assert.equal(w.record, 2);
    await api.abort(workflowId, { reason: 'cartridge damaged' });
    const err = await api.result(workflowId).catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError);
    const s = await api.status(workflowId);
    assert.equal(s.status, 'FAILED');
    assert.equal(s.outcome, 'aborted');
    assert.match(s.failure ?? '', /aborted by an operator \(cartridge damaged\)/);
    await lab.clearFaults('tapesrv');
  });

  await t.test('failed runs of a host are one visibility query; a failed backup may be started again', async () => {
    await lab.fault('tapesrv', 'write-fail file=1 always');
    const workflowId = env.newId();
    await api.start({ source: 'aix01', tape: TAPE, overwrite: true, retry: { maxAttempts: 1 }, operatorWaitHours: 0 }, { workflowId });
    await assert.rejects(api.result(workflowId), WorkflowFailedError);
    const failedStatus = await api.status(workflowId);
    const failedRunId = failedStatus.runId;
    assert.match(failedStatus.failure ?? '', /record 1/);

    const failed = await eventually('the failed run in visibility', async () => {
      const runs = await api.list({ source: 'aix01', outcome: 'failed' });
      return runs.some((r) => r.workflowId === workflowId) ? runs : undefined;
    });
    assert.ok(failed.every((r) => r.source === 'aix01' && r.outcome === 'failed'));
    // The same query, written by hand as an operator would in the UI's search box.
    const raw = [];
    for await (const w of env.t.client.workflow.list({ query: `${SA_SOURCE.name} = "aix01" AND ${SA_OUTCOME.name} = "failed"` })) raw.push(w.workflowId);
    assert.ok(raw.includes(workflowId));
    assert.equal((await api.list({ source: 'aix02', outcome: 'failed' })).length, 0);

    await lab.clearFaults('tapesrv');
    const second = await api.start({ source: 'aix01', tape: TAPE, overwrite: true }, { workflowId });
    assert.equal(second.started, true);
    assert.notEqual(second.runId, failedRunId);
    const result = await api.result(workflowId);
    assert.equal(result.verification.readBack, true);
  });

  await t.test('the Temporal CLI starts a run from one line of JSON, and it completes', async () => {
    const cli = process.env.MKSYSB_TEST_TEMPORAL_CLI || requireTemporalCli().path;
    const workflowId = env.newId();
    const { stdout } = await execFileP(cli, [
      'workflow', 'start',
      '--address', env.t.address,
      '--namespace', 'default',
      '--type', 'mksysbToTape',
      '--task-queue', env.config.taskQueue,
      '--workflow-id', workflowId,
      '--input', '{"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}, "overwrite": true}',
    ]);
    assert.match(stdout, new RegExp(workflowId.replace(/[/]/g, '\\/')));
    const result = await api.result(workflowId);
    assert.equal(result.source, 'aix01');
    assert.equal(result.verification.readBack, true);
    const s = await api.status(workflowId);
    assert.equal(s.outcome, 'succeeded');
    assert.equal(s.tape?.device, 'rmt0');
  });

  await t.test('schedules: create, list, update, pause, trigger, delete', async () => {
    const scheduleId = `mksysb-tape/aix01/nightly-${Math.random().toString(36).slice(2, 8)}`;
    const prefix = `${scheduleId}-run`;
    const info = await api.createSchedule({
      scheduleId,
      workflowIdPrefix: prefix,
      input: { source: 'aix01', tape: TAPE, overwrite: true },
      cron: '0 2 * * *',
      timeZone: 'Europe/Berlin',
      paused: true,
      note: 'created by the client test',
    });
    assert.equal(info.paused, true);
    assert.equal(info.timeZone, 'Europe/Berlin');
    assert.equal(info.overlap, 'SKIP');
    assert.deepEqual(info.cron, ['0 2 * * *']);
    await assert.rejects(
      api.createSchedule({ scheduleId, input: { source: 'aix01', tape: TAPE }, cron: '0 2 * * *' }),
      (e: unknown) => e instanceof ScheduleError && /already exists/.test(e.message),
    );
    await assert.rejects(api.createSchedule({ input: { source: 'aix01', tape: { host: 'tapesrv' } } as never, cron: '0 2 * * *' }), InputValidationError);

    const listed = await api.listSchedules();
    const mine = listed.find((s) => s.scheduleId === scheduleId);
    assert.ok(mine, 'created schedule is listed');
    assert.equal(mine.source, 'aix01');
    assert.equal(mine.tape, 'tapesrv:rmt0');

    const updated = await api.updateSchedule(scheduleId, { cron: '30 3 * * 1-5', overlap: 'buffer-one' });
    assert.deepEqual(updated.cron, ['30 3 * * MONDAY-FRIDAY']);
    assert.equal(updated.overlap, 'BUFFER_ONE');
    assert.equal(updated.timeZone, 'Europe/Berlin');

    await api.unpauseSchedule(scheduleId);
    assert.equal((await api.describeSchedule(scheduleId)).paused, false);
    await api.pauseSchedule(scheduleId, 'maintenance');
    const paused = await api.describeSchedule(scheduleId);
    assert.equal(paused.paused, true);
    assert.equal(paused.note, 'maintenance');

    await api.triggerSchedule(scheduleId);
    const action = await eventually('the triggered run', async () => (await api.describeSchedule(scheduleId)).recentActions[0]);
    assert.ok(action.workflowId.startsWith(`${prefix}-`), action.workflowId);
    const result = await api.result(action.workflowId);
    assert.equal(result.verification.readBack, true);
    const run = await api.status(action.workflowId);
    assert.equal(run.summary, 'mksysb of aix01 to tapesrv:rmt0');
    assert.equal(run.source, 'aix01');

    await api.deleteSchedule(scheduleId);
    await assert.rejects(api.describeSchedule(scheduleId), ScheduleError);
  });
});
