import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backupEnv, padTo, sha256, sourceImages, tapeWrites } from '../helpers/backup';
import { parseBff } from '../../lab/bff';

test('record 4 at 256 KiB: /tapeblksz around mkinsttape, the drive switched before record 4, tape verified', async () => {
  const env = await backupEnv();
  const result = await env.run({ record4BlockSize: 262144, keepStaging: true });
  const src = env.lab.host('aix01');
  assert.equal(fs.existsSync(path.join(src.root, 'tapeblksz')), false, '/tapeblksz removed after mkinsttape');
  const img = sourceImages(env, result.backupId);
  const names = parseBff(img.install).entries.map((e) => e.name);
  assert.ok(names.includes('./tapeblksz'), `the install image holds ./tapeblksz: ${names.join(', ')}`);
  const mk = (await env.lab.commandLog('aix01')).find((e) => e.command === 'mkinsttape')!;
  assert.match(String(mk.tapeblksz), /^262144 NONE/, 'mkinsttape saw /tapeblksz saying 262144');
  const log = await env.lab.commandLog('tapesrv');
  const dd4 = log.find((e) => e.command === 'dd' && (e.tape as { file?: number; op?: string } | undefined)?.file === 4 && (e.tape as { op: string }).op === 'write')!;
  assert.equal((dd4.tape as { blockSize: number }).blockSize, 262144, 'record 4 written with the drive at 262144');
  const r4 = result.records[3]!;
  assert.equal(r4.blockSize, 262144);
  assert.equal(r4.bytes, padTo(img.mksysb, 262144).length);
  assert.equal(r4.sha256, sha256(padTo(img.mksysb, 262144)), 'read back: the image padded to the block size');
  assert.deepEqual(result.records.slice(0, 3).map((r) => r.blockSize), [512, 512, 512]);
  assert.equal(result.verification.lsmksysb, true);
  assert.equal(result.verification.installImage, true, "record 2's ./tapeblksz read back from the tape says 262144");
  assert.deepEqual((await tapeWrites(env)).map((w) => w.file), [1, 2, 3, 4]);
});
