import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backupEnv, padTo, readCartridge, sha256, sourceImages } from '../helpers/backup';

test('a full backup writes a bootable 4-record tape that Hercules confirms byte for byte', async () => {
  const env = await backupEnv();
  const result = await env.run({ keepStaging: true });
  const img = sourceImages(env, result.backupId);
  const { map, files } = await readCartridge(env, img);
  assert.equal(map.files.length, 4, map.raw);
  assert.deepEqual(files[0], padTo(img.boot, 512), 'file 1 is the boot image padded with NULs to 512');
  assert.notEqual(img.boot.length % 512, 0, 'the boot image itself is not a multiple of 512');
  assert.deepEqual(files[1], img.install, 'file 2 is the install image');
  assert.deepEqual(files[2], padTo(Buffer.from('Dummy tape TOC\n'), 512), 'file 3 is the dummy TOC');
  assert.equal(sha256(files[3]!), sha256(img.mksysb), 'file 4 is the mksysb image byte for byte');
  assert.deepEqual(result.records.map((r) => [r.record, r.bytes, r.writes]), [
    [1, padTo(img.boot, 512).length, 1],
    [2, img.install.length, 1],
    [3, 512, 1],
    [4, img.mksysb.length, 1],
  ]);
  assert.equal(result.verification.readBack, true);
  assert.equal(result.verification.lsmksysb, true);
  const log = await env.lab.commandLog('aix01');
  assert.equal(log.filter((e) => e.command === 'mksysb').length, 1);
});
