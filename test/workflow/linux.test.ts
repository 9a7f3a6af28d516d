import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activityResults, assertTapeHolds, backupEnv, sourceImages, sourceRuns, tapeWrites } from '../helpers/backup';
import type { TransferOutcome } from '../../src/activities';
import type { BackupResult } from '../../src/shared/contract';

test('the same backup on a Linux tape host (mt, /dev/nst0) gives the same cartridge', async () => {
  const env = await backupEnv({ lab: { tapeHosts: [{ name: 'lnx', os: 'linux', drives: 1 }] } });
  const result = await env.run({ tape: { host: 'lnx', device: 'nst0' }, keepStaging: true });
  assert.equal(result.verification.readBack, true);
  assert.equal(result.verification.lsmksysb, null, 'no lsmksysb on Linux');
  assert.deepEqual(await sourceRuns(env, 'aix01'), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  assert.deepEqual((await tapeWrites(env, 'lnx', 'nst0')).map((w) => w.file), [1, 2, 3, 4]);
  const log = await env.lab.commandLog('lnx');
  assert.ok(log.some((e) => e.command === 'mt' && e.args.join(' ') === '-f /dev/nst0 setblk 512'), 'mt setblk 512');
  assert.ok(!log.some((e) => e.command === 'tctl' || e.command === 'chdev'), 'no AIX commands on Linux');
  await assertTapeHolds(env, sourceImages(env, result.backupId), 'nst0', 'lnx');
});

test('a Linux tape host that the source trusts pulls the images itself (sha256sum after writing)', async () => {
  const env = await backupEnv({ lab: { tapeHosts: [{ name: 'lnx', os: 'linux', drives: 1 }] } });
  env.lab.trust('lnx', 'aix01');
  const handle = await env.start({ tape: { host: 'lnx', device: 'nst0' }, keepStaging: true });
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual([...new Set(result.transfers!.map((t) => `${t.record} ${t.mode}`))].sort(), ['1 direct', '2 direct', '4 direct']);
  const moved = (await activityResults(handle)).filter((r) => r.type === 'transferImage').map((r) => r.value as TransferOutcome);
  assert.ok(moved.length >= 2 && moved.every((m) => m.mode === 'direct' && m.directFailed === undefined), JSON.stringify(moved));
  await assertTapeHolds(env, sourceImages(env, result.backupId), 'nst0', 'lnx');
});
