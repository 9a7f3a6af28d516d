/**
 * Two attempts of one tape activity on one drive, as Temporal runs them when it gives up on an attempt whose worker
 * is slow (a missed heartbeat) and schedules the next while the first still runs: the newer attempt takes the drive,
 * the older one's commands are stopped and it cannot move the tape again (src/tape/fence.ts).
 *
 * The two attempts are the project's real verifyTape against the lab's hosts over SSH, given their attempt
 * identities by the SDK's MockActivityEnvironment, so that their order and overlap are exact instead of left to the
 * dev server's timers: the older attempt's first read-back stalls before it opens the drive; the newer one starts,
 * and its record-2 read-back stalls between its positioning (`tctl fsf 1`) and its `dd`, so that any command of the
 * older attempt in that window would move the tape under it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPayloadConverter } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { RunPlan, StagedImage, VerifyOutcome } from '../../src/activities/types';
import { SshPool } from '../../src/ssh';
import { backupEnv, waitFor } from '../helpers/backup';

test('an attempt Temporal gave up on cannot move the tape under the attempt that replaced it', async () => {
  const env = await backupEnv();
  const handle = await env.start({ keepStaging: true });
  await handle.result();
  // The run's own verifyTape arguments, from its history.
  const history = await handle.fetchHistory();
  const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyTape')!;
  const [plan, staged] = scheduled.activityTaskScheduledEventAttributes!.input!.payloads!.map((p) =>
    defaultPayloadConverter.fromPayload(p as never),
  ) as [RunPlan, StagedImage[]];

  const sshPool = new SshPool();
  after(() => sshPool.closeAll());
  const acts = createActivities({ inventoryPath: env.lab.inventoryPath, policies: env.config.policies, sshPool, pollIntervalMs: 200 });
  // Both later than the run's own attempts (which claimed the drive last); the second retries the first.
  const now = Date.now();
  const older = new MockActivityEnvironment({ activityId: '20', attempt: 1, currentAttemptScheduledTimestampMs: now });
  const newer = new MockActivityEnvironment({ activityId: '20', attempt: 2, currentAttemptScheduledTimestampMs: now + 7000 });
  const stalls = async () => (await env.lab.commandLog('tapesrv')).filter((e) => e.command === 'dd' && e.fault === 'stall');

  await env.lab.fault('tapesrv', 'stall seconds=3 op=read');
  const first = older.run(acts.verifyTape, plan, staged);
  first.catch(() => undefined);
  await waitFor('the older attempt stalled before its first read-back', async () => (await stalls()).length === 1);

  await env.lab.fault('tapesrv', 'stall seconds=6 op=read skip=1');
  const second: VerifyOutcome = await newer.run(acts.verifyTape, plan, staged);
  assert.equal(second.lsmksysb, true);
  assert.deepEqual(
    second.records.map((r) => [r.record, r.ok, r.detail ?? '']),
    [1, 2, 3, 4].map((k) => [k, true, '']),
    'the newer attempt read every record where it positioned',
  );
  await assert.rejects(first, 'the older attempt failed instead of finishing');
  const log = await env.lab.commandLog('tapesrv');
  const resumed = log.filter((e) => e.command === 'dd' && e.fault === 'stall' && e.resumed === true);
  assert.equal(resumed.length, 1, `only the newer attempt's stalled dd went on to open the drive: ${JSON.stringify(resumed)}`);
  assert.deepEqual(
    log.filter((e) => (e.tape as { error?: string } | undefined)?.error === 'EBUSY' || e.error === 'EBUSY'),
    [],
    'no command found the drive busy',
  );
});
