import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPayloadConverter } from '@temporalio/common';
import { backupEnv, testPolicies, waitFor } from '../helpers/backup';
import type { BackupProgress } from '../../src/shared/contract';

test('while mksysb runs, the image activity heartbeats the bytes written so far', async () => {
  const env = await backupEnv();
  await env.lab.setHostConfig('aix01', { mksysbBytes: 24 << 20, mksysbBytesPerSecond: 4 << 20 });
  const handle = await env.start({});
  const seen = await waitFor('a heartbeat with bytes done from makeImage(4)', async () => {
    const p = await handle.query<BackupProgress>('progress');
    if (p.stage !== 'images' || p.record !== 4) return undefined;
    const d = await handle.describe();
    for (const a of d.raw.pendingActivities ?? []) {
      if (a.activityType?.name !== 'makeImage' || !a.heartbeatDetails?.payloads?.[0]) continue;
      const beat = defaultPayloadConverter.fromPayload<{ record?: number; bytesDone?: number }>(a.heartbeatDetails.payloads[0]);
      if (beat.record === 4 && (beat.bytesDone ?? 0) > 0) return beat;
    }
    return undefined;
  });
  assert.ok(seen.bytesDone! > 0 && seen.bytesDone! < 24 << 20, `bytes done while running: ${seen.bytesDone}`);
  await handle.result();
});

test('a step made of many short commands heartbeats: a verification slower than its heartbeat timeout is not given up on', async () => {
  // Every read-back waits 1.5 s before it opens the drive (a loaded tape host): no single command outlasts the 2 s
  // between the heartbeats of a running command, but the verification as a whole outlasts its 4 s heartbeat timeout.
  const env = await backupEnv({ policies: testPolicies({ verify: { heartbeatTimeout: '4s' } }) });
  await env.lab.fault('tapesrv', 'stall seconds=1.5 op=read always');
  // A step that used its attempts fails the run instead of waiting for an operator.
  const handle = await env.start({ operatorWaitHours: 0 });
  await handle.result();
  const events = (await handle.fetchHistory()).events ?? [];
  const timedOut = events.filter((e) => e.activityTaskTimedOutEventAttributes).map((e) => e.activityTaskTimedOutEventAttributes!.failure?.message);
  assert.deepEqual(timedOut, [], 'no attempt timed out');
  const attempts = events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
  assert.ok(attempts.every((a) => a === 1), `every step ran once: attempts ${JSON.stringify(attempts)}`);
  const stalls = (await env.lab.commandLog('tapesrv')).filter((e) => e.command === 'dd' && e.fault === 'stall' && e.resumed === true);
  assert.ok(stalls.length >= 5, `the read-backs were slow: ${stalls.length} stalled reads`);
});
