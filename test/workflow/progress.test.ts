import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPayloadConverter } from '@temporalio/common';
import { backupEnv, waitFor } from '../helpers/backup';
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
