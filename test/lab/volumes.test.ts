/**
 * A backup larger than one cartridge, as AIX's backup spans it (AIX-TAPE.md, "Backups larger than one cartridge"):
 * volume 1 holds records 1-4 with record 4 cut at the end of the medium, volumes 2 and 3 a fresh FS_VOLUME header
 * each and the next bytes of the archive. The test builds the set with the procedure's own commands over SSH and
 * reads it back with restore and lsmksysb, which follow the volumes as restbyname does.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, type Lab } from '../../lab/index';
import { continuationHeader as labContinuationHeader } from '../../lab/bff';
import { spawn } from 'node:child_process';
import { ok } from './helpers';

let lab: Lab;
const W = '/home/mksysb';
const BLOCK_AWS = 518;
/** Blocks of record 4 on volume 1, and bytes (header included) on volume 2. */
const VOL1_BLOCKS = 300;
const VOL2_BLOCKS = 400;
let img: Buffer;
/** Archive bytes on volumes 1 and 2 (without volume 2's header). */
const cut: number[] = [];
const names: string[] = [];

const tapeFile = (name: string) => path.join(lab.host('tapesrv').root, W, name);
const entries = (listing: string) => listing.split('\n').filter((l) => /^\s+\d+ \.\//.test(l));

/** Volume N's header: the archive's first, with volnum N and the checksum recomputed (sum of c << (c & 7), 16 bits). */
function continuationHeader(first: Buffer, volnum: number): Buffer {
  const h = Buffer.from(first.subarray(0, 72));
  h.writeUInt16LE(volnum, 6);
  h.writeUInt16LE(0, 4);
  let sum = 0;
  for (const c of h) sum = (sum + (c << (c & 7))) & 0xffff;
  h.writeUInt16LE(sum, 4);
  return h;
}

/** Bytes that reached the loaded cartridge's tape file `n`, read back as the project does. */
async function bytesOnTape(n: number): Promise<number> {
  const skip = n > 1 ? ` && tctl -f /dev/rmt0.1 fsf ${n - 1}` : '';
  return Number((await ok(lab, 'tapesrv', `tctl -f /dev/rmt0 rewind${skip} && dd if=/dev/rmt0.1 bs=512 | wc -c`)).trim());
}

/** Writes the continuation from archive byte `from` to the loaded cartridge: header, the rest, NULs to a whole block. */
function continuation(volnum: number, from: number): string {
  fs.writeFileSync(tapeFile(`vol${volnum}.hdr`), continuationHeader(img, volnum));
  const pad = (512 - ((72 + img.length - from) % 512)) % 512 || 512;
  return `( cat ${W}/vol${volnum}.hdr; tail -c +${from + 1} ${W}/4_mksysb.img; dd if=/dev/zero bs=${pad} count=1 ) | dd ibs=512 obs=512 of=/dev/rmt0.1`;
}

before(async () => {
  lab = await startLab({ sources: ['aix01'], mksysbBytes: 600 * 1024, bootImageBytes: 64 * 1024 + 301 });
  await ok(lab, 'aix01', `bosboot -ad /dev/rmt0 -b ${W}/1_bosboot.img && mkinsttape ${W}/2_mkinsttape.img && mksysb -e -i -p ${W}/4_mksysb.img`);
  for (const f of ['1_bosboot.img', '2_mkinsttape.img', '4_mksysb.img']) fs.copyFileSync(path.join(lab.host('aix01').root, W, f), tapeFile(f));
  img = fs.readFileSync(tapeFile('4_mksysb.img'));
  const blocks = (f: string) => Math.ceil(fs.statSync(tapeFile(f)).size / 512);
  const records1to3 = (blocks('1_bosboot.img') + blocks('2_mkinsttape.img') + 1) * BLOCK_AWS + 3 * 6;
  lab.load('tapesrv', 'rmt0', { name: 'rmt0', capacityBytes: records1to3 + VOL1_BLOCKS * BLOCK_AWS + 100 });

  // Volume 1: the procedure, word for word; record 4 meets the end of the medium.
  await ok(
    lab,
    'tapesrv',
    `cd ${W} && chdev -l rmt0 -a extfm=yes && tctl -f /dev/rmt0 rewind && chdev -l rmt0 -a block_size=512 && tctl -f /dev/rmt0 rewind && ` +
      'dd if=1_bosboot.img of=/dev/rmt0 bs=512 conv=sync && tctl -f /dev/rmt0 rewind; tctl -f /dev/rmt0.1 fsf 1 && ' +
      'dd if=2_mkinsttape.img of=/dev/rmt0.1 bs=512 && tctl -f /dev/rmt0 rewind; tctl -f /dev/rmt0.1 fsf 2 && ' +
      'echo "Dummy tape TOC" | dd of=/dev/rmt0.1 bs=512 conv=sync && tctl -f /dev/rmt0 rewind; tctl -f /dev/rmt0.1 fsf 3',
  );
  const r4 = await lab.exec('tapesrv', `dd if=${W}/4_mksysb.img of=/dev/rmt0.1 bs=512`);
  assert.equal(r4.code, 2, r4.stderr);
  assert.match(r4.stderr, /There is a request to a device or address that does not exist/);
  cut.push(await bytesOnTape(4));
  assert.equal(cut[0], VOL1_BLOCKS * 512);

  // Volume 2: ejected, a blank cartridge loaded, written from the beginning; it too meets its end.
  await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 offline');
  names.push(lab.load('tapesrv', 'rmt0', { capacityBytes: VOL2_BLOCKS * BLOCK_AWS }).name);
  const v2 = await lab.exec('tapesrv', continuation(2, cut[0]!));
  assert.equal(v2.code, 2, v2.stderr);
  cut.push(cut[0]! + (await bytesOnTape(1)) - 72);
  assert.equal(cut[1], cut[0]! + VOL2_BLOCKS * 512 - 72);

  // Volume 3: the rest, with FS_END.
  await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 offline');
  names.push(lab.load('tapesrv', 'rmt0').name);
  await ok(lab, 'tapesrv', continuation(3, cut[1]!));
  assert.ok(img.length - cut[1]! > 100 * 512, 'volume 3 holds a good part of the archive');
  lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
});
after(async () => {
  await lab?.down();
});

test('restore -T follows the volumes with LAB_RESTORE_VOLUMES and lists what the staged image holds', async () => {
  const whole = await ok(lab, 'tapesrv', `restore -T -f ${W}/4_mksysb.img`);
  const r = await lab.exec('tapesrv', `LAB_RESTORE_VOLUMES=${names.join(',')} restore -T -s 4 -f /dev/rmt0`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, 'Mount volume 2 on /dev/rmt0.\nMount volume 3 on /dev/rmt0.\n');
  assert.ok(entries(whole).length > 10);
  assert.deepEqual(entries(r.stdout), entries(whole));
  assert.match(r.stdout, /The number of archived files is \d+\./);
  assert.equal(lab.tapeState('tapesrv', 'rmt0').cartridge, names[1], 'the last volume stays in the drive');
  const log = (await lab.commandLog('tapesrv')).filter((e) => e.command === 'restore').at(-1)!;
  assert.deepEqual((log.tape as { volumes: number; cartridges: string[] }).cartridges, ['rmt0', ...names]);
});

test('without a terminal restore cannot get past volume 1: it asks, cannot read the answer, and fails', async () => {
  lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const r = await lab.exec('tapesrv', 'restore -T -s 4 -f /dev/rmt0');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^Mount volume 2 on \/dev\/rmt0\.\nrestore: 0511-xxx Cannot open \/dev\/tty to read the answer: /);
  assert.doesNotMatch(r.stdout, /The number of archived files/);
  const l = await lab.exec('tapesrv', 'lsmksysb -V -f /dev/rmt0');
  assert.notEqual(l.code, 0);
  assert.match(l.stderr, /Mount volume 2 on \/dev\/rmt0\.\n.*\/dev\/tty.*\n[^]*lsmksysb: 0511-xxx The backup image on \/dev\/rmt0 is not valid/);
  assert.equal(lab.tapeState('tapesrv', 'rmt0').cartridge, 'rmt0');
});

test('on a terminal restore waits for Enter with the drive closed, so an operator can change the cartridge', async () => {
  lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const child = spawn('ssh', ['-tt', ...lab.sshArgs('tapesrv'), 'restore -T -s 4 -f /dev/rmt0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let seen = '';
  const asked = new Set<number>();
  child.stdout.on('data', (d: Buffer) => {
    seen += d.toString();
    for (const n of [2, 3]) {
      if (asked.has(n) || !seen.includes(`Mount volume ${n} on /dev/rmt0.`)) continue;
      asked.add(n);
      lab.load('tapesrv', 'rmt0', { name: names[n - 2]! });
      child.stdin.write('\n');
    }
  });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 0, seen);
  assert.deepEqual([...asked], [2, 3]);
  assert.match(seen, /The number of archived files is \d+\./);
});

test('volumes out of order are refused with 0511-103 and the next answer taken; none left is a failure', async () => {
  lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const [v2, v3] = names as [string, string];
  const r = await lab.exec('tapesrv', `LAB_RESTORE_VOLUMES=${v3},${v2},${v3} restore -T -s 4 -f /dev/rmt0`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, 'Mount volume 2 on /dev/rmt0.\nrestore: 0511-103 The volume is not correct. Restore expects volume 2.\nMount volume 2 on /dev/rmt0.\nMount volume 3 on /dev/rmt0.\n');

  lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const blank = lab.load('tapesrv', 'rmt0').name;
  lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const f = await lab.exec('tapesrv', `LAB_RESTORE_VOLUMES=${v3},${blank} restore -T -s 4 -f /dev/rmt0`);
  assert.notEqual(f.code, 0);
  assert.match(f.stderr, /^(Mount volume 2 on \/dev\/rmt0\.\nrestore: 0511-103 The volume is not correct\. Restore expects volume 2\.\n){2}Mount volume 2 on \/dev\/rmt0\.\nrestore: 0511-xxx There is no answer/);
  const none = await lab.exec('tapesrv', 'tctl -f /dev/rmt0 offline; LAB_RESTORE_VOLUMES=x restore -T -s 4 -f /dev/rmt0');
  assert.match(none.stderr, /not ready/);
});

test('lsmksysb -V checks the whole set through its volume changes', async () => {
  lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const file = await ok(lab, 'tapesrv', `lsmksysb -V -f ${W}/4_mksysb.img`);
  const tape = await lab.exec('tapesrv', `LAB_RESTORE_VOLUMES=${names.join(',')} lsmksysb -V -f /dev/rmt0`);
  assert.equal(tape.code, 0, tape.stderr);
  assert.equal(tape.stdout.replace('/dev/rmt0', 'X'), file.replace(`${W}/4_mksysb.img`, 'X'));
});

test('a file holding the volumes one after the other, headers included, is no archive; the staged image is', async () => {
  const concat = Buffer.concat([
    img.subarray(0, cut[0]), continuationHeader(img, 2), img.subarray(cut[0], cut[1]), continuationHeader(img, 3), img.subarray(cut[1]),
  ]);
  fs.writeFileSync(tapeFile('concat.img'), concat);
  for (const c of [`restore -T -f ${W}/concat.img`, `lsmksysb -V -f ${W}/concat.img`]) {
    const r = await lab.exec('tapesrv', c);
    assert.notEqual(r.code, 0, c);
    assert.match(r.stderr, /0511-119 There is a missing header block/, c);
  }
  await ok(lab, 'tapesrv', `restore -T -f ${W}/4_mksysb.img && lsmksysb -V -f ${W}/4_mksysb.img`);
});

test("lab/bff.ts's continuationHeader makes the header this test computes by AIX-TAPE.md's rule", () => {
  for (const n of [2, 3, 700]) assert.ok(labContinuationHeader(img, n).equals(continuationHeader(img, n)), String(n));
  assert.ok(labContinuationHeader(img, 1).equals(img.subarray(0, 72)), 'volume 1 is the archive\'s own header');
});

test('a single-volume tape reads as before: one archive, no question', async () => {
  const c = lab.load('tapesrv', 'rmt0');
  await ok(lab, 'tapesrv', `dd if=${W}/4_mksysb.img of=/dev/rmt0 bs=512`);
  const r = await lab.exec('tapesrv', 'restore -T -f /dev/rmt0');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(lab.tapeState('tapesrv', 'rmt0').cartridge, c.name);
});
