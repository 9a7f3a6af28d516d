/**
 * Multi-volume sets on other drives: a sequential autoloader that changes the cartridges by itself (and asks a person
 * when its magazine is empty), and a Linux tape host (mt, ENOSPC).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackupResult } from '../../src/shared/contract';
import { backupEnv, sourceImages } from '../helpers/backup';
import { assertSet, cartridgeWanted, loadAndAnswer, oneTape, setDrive } from '../helpers/volumes';

const MiB = 1 << 20;

test('a sequential autoloader changes the cartridges by itself; an empty magazine asks a person', async () => {
  const env = await backupEnv({ lab: { ...oneTape(2 * MiB), mksysbBytes: 5 * MiB } });
  setDrive(env, 'tapesrv', 'rmt0', { autoloader: 'sequential', autoloaderWaitSeconds: 5 });
  const { magazine } = env.lab.setAutoloader('tapesrv', 'rmt0', { cartridges: 2, loadSeconds: 1 });
  const handle = await env.start({ maxVolumes: 4, keepStaging: true });
  const p = await cartridgeWanted(handle, 4);
  assert.match(p.waiting!.reason, /the autoloader of tapesrv:rmt0 loaded no cartridge within 5 s/);
  const last = env.lab.load('tapesrv', 'rmt0');
  await handle.signal('volumeLoaded', {});
  const result = (await handle.result()) as BackupResult;
  await assertSet(env, ['rmt0', ...magazine, last.name], sourceImages(env, result.backupId));
  const history = await handle.fetchHistory();
  const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).map((e) => e.workflowExecutionSignaledEventAttributes!.signalName);
  assert.deepEqual(
    signals.filter((n) => n !== 'driveGranted'),
    ['volumeLoaded'],
    'a person answered only for the cartridge the magazine did not have (driveGranted is the drive lock\'s)',
  );
});

test('a Linux tape host spans cartridges with mt and ENOSPC', async () => {
  const env = await backupEnv({ lab: oneTape(2 * MiB, 'linux', 'lnxtape') });
  const handle = await env.start({ tape: { host: 'lnxtape', device: 'nst0' }, maxVolumes: 3, keepStaging: true });
  const at = { host: 'lnxtape', device: 'nst0' };
  const names = ['nst0', await loadAndAnswer(env, handle, 2, at)];
  names.push(await loadAndAnswer(env, handle, 3, at));
  const result = (await handle.result()) as BackupResult;
  assert.equal(result.volumes!.length, 3);
  assert.equal(result.verification.readBack, true);
  await assertSet(env, names, sourceImages(env, result.backupId), at);
  const log = await env.lab.commandLog('lnxtape');
  assert.ok(log.some((e) => e.command === 'mt' && e.args.includes('offline')), 'ejected with mt offline');
  assert.ok(log.some((e) => e.command === 'dd' && (e.tape as { error?: string } | undefined)?.error === 'ENOSPC'), 'the end of medium came as ENOSPC');
});
