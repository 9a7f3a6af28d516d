/**
 * The size polls during mksysb must not read the image: AIX's `wc -c < FILE` reads every byte (AIX-TAPE.md, "AIX
 * userland"), and the lab's wc does the same and logs `bytesRead`, so a poll that used it would show here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPayloadConverter } from '@temporalio/common';
import { backupEnv } from '../helpers/backup';
import type { BackupResult } from '../../src/shared/contract';

const IMAGE = 256 << 20;

test('the size polls while mksysb writes a 256 MiB image read less than 1 MiB of it', async () => {
  const env = await backupEnv();
  // 16 s of mksysb: many poll intervals (200 ms here), and several heartbeats even when the SDK throttles them.
  await env.lab.setHostConfig('aix01', { mksysbBytes: IMAGE, mksysbBytesPerSecond: 16 << 20 });
  const wcBefore = (await env.lab.commandLog('aix01')).filter((e) => e.command === 'wc').length;
  const handle = await env.start({});
  let done = false;
  const result = handle.result().finally(() => {
    done = true;
  }) as Promise<BackupResult>;
  // Each heartbeat of makeImage(4) carries the size of the last poll: distinct values are distinct polls.
  const polled = new Set<number>();
  while (!done) {
    const d = await handle.describe().catch(() => undefined);
    for (const a of d?.raw.pendingActivities ?? []) {
      if (a.activityType?.name !== 'makeImage' || !a.heartbeatDetails?.payloads?.[0]) continue;
      const beat = defaultPayloadConverter.fromPayload<{ record?: number; bytesDone?: number }>(a.heartbeatDetails.payloads[0]);
      if (beat.record === 4 && beat.bytesDone !== undefined) polled.add(beat.bytesDone);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const r = await result;
  const log = await env.lab.commandLog('aix01');
  // The staging folder is gone once the tape is verified: the image's size is what mksysb logged it wrote.
  const made = log.filter((e) => e.command === 'mksysb' && e.exit === 0);
  assert.equal(made.length, 1);
  const imageBytes = Number(made[0]!.bytes);
  assert.ok(imageBytes >= IMAGE * 0.99 && imageBytes <= IMAGE, `image of ${imageBytes} bytes`);
  assert.equal(r.records.find((x) => x.record === 4)?.bytes, imageBytes, 'the whole image is on tape');
  const wc = log.filter((e) => e.command === 'wc').slice(wcBefore);
  const wcRead = wc.reduce((n, e) => n + Number(e.bytesRead ?? 0), 0);
  const growing = [...polled].filter((n) => n > 0 && n < imageBytes);
  console.log(
    `size polls: ${polled.size} distinct sizes heartbeated during mksysb (${growing.length} while the image grew); ` +
      `wc ran ${wc.length} times on the source and read ${wcRead} bytes in all; image ${imageBytes} bytes`,
  );
  assert.ok(growing.length >= 2, `polls saw the image grow: ${[...polled].join(', ')}`);
  assert.ok(wcRead < 1 << 20, `the source's wc read ${wcRead} bytes`);
});
