/** The lab's pure parts without sshd: the backup-by-name codec and the AWSTAPE drive, checked with Hercules and file. */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bffChecksum, buildBff, parseBff, BffError } from '../../lab/bff';
import { Drive, TapeError, devicePaths, newDriveState, parseDevice, readState, writeState } from '../../lab/tape';
import { execFileP, hetget, tapemap } from './helpers';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-emu-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function drive(name: string, blockSize: number, capacity = 1 << 30) {
  const p = devicePaths(dir, name);
  fs.writeFileSync(p.aws, '');
  writeState(p, { ...newDriveState(name, 'aix', capacity), blockSize });
  return p;
}

test('backup-by-name archives: header bytes, checksum, round trip, file(1)', async () => {
  const img = buildBff(
    [
      { meta: { name: './a' }, data: Buffer.from('hello\n') },
      { meta: { name: './exactly8' }, data: Buffer.alloc(0) },
    ],
    { date: 0 },
  );
  assert.deepEqual([...img.subarray(0, 4)], [0x09, 0x00, 0x6b, 0xea]);
  assert.equal(img.length % 512, 0);
  const p = parseBff(img);
  assert.deepEqual(p.entries.map((e) => [e.name, e.size]), [['./a', 6], ['./exactly8', 0]]);
  assert.equal(bffChecksum(Buffer.from([1, 8, 255])), (1 << 1) + 8 + (255 << 7));
  fs.writeFileSync(path.join(dir, 'a.bff'), img);
  assert.match((await execFileP('file', [path.join(dir, 'a.bff')])).stdout, /AIX backup\/restore format file/);
  assert.throws(() => parseBff(img.subarray(0, 100)), BffError);
});

test('backup-by-name entries: ACL/PCL block except for symbolic links, directory dsize, strict reading', () => {
  const img = buildBff(
    [
      { meta: { name: './etc', mode: 0o40755 }, data: Buffer.alloc(0) },
      { meta: { name: './unix', mode: 0o120777 }, data: Buffer.from('/usr/lib/boot/unix_64') },
      { meta: { name: './etc/hosts', mode: 0o100640 }, data: Buffer.from('127.0.0.1 loopback\n') },
    ],
    { date: 0 },
  );
  assert.equal(img.readUInt32LE(16), 0x7fffffff, 'numwds');
  // ./etc: 9-dword header, size 0, dsize 256, then sizes 2, 2, the ACL (rwx 7, 5, 5) and the PCL (its mode).
  assert.deepEqual([img[72], img.readUInt32LE(72 + 24), img.readUInt32LE(72 + 56)], [9, 0, 256]);
  const sec = img.subarray(72 + 72, 72 + 72 + 40);
  assert.deepEqual([0, 4, 8, 12].map((o) => sec.readUInt32LE(o)), [2, 2, 16, 0]);
  assert.deepEqual([16, 18, 20, 22].map((o) => sec.readUInt16LE(o)), [0, 7, 5, 5]);
  assert.deepEqual([24, 28, 32, 36].map((o) => sec.readUInt32LE(o)), [16, 0o40755, 0, 0]);
  // ./unix: its target follows the name directly (backbyname.c writes no security header for a symbolic link).
  const link = 72 + 72 + 40;
  assert.equal(img.subarray(link + 72, link + 72 + 21).toString(), '/usr/lib/boot/unix_64');
  const p = parseBff(img);
  assert.deepEqual(p.entries.map((e) => [e.name, e.size]), [['./etc', 0], ['./unix', 21], ['./etc/hosts', 19]]);
  // Sizes of 0 (no ACL/PCL) are a damaged archive, as are sizes that do not match the ACL's length.
  for (const [at, v] of [[72 + 72, 0], [72 + 72 + 4, 0], [72 + 72, 3], [72 + 72 + 8, 24]] as const) {
    const bad = Buffer.from(img);
    bad.writeUInt32LE(v, at);
    assert.throws(() => parseBff(bad), (e: BffError) => e instanceof BffError && e.damaged && /\.\/etc \(byte 72\)/.test(e.message), `${at}=${v}`);
  }
});

test('device names: rewind and no-rewind special files', () => {
  assert.deepEqual(parseDevice('/dev/rmt0'), { drive: 'rmt0', rewindOnClose: true, os: 'aix' });
  assert.deepEqual(parseDevice('/dev/rmt1.1'), { drive: 'rmt1', rewindOnClose: false, os: 'aix' });
  assert.equal(parseDevice('/dev/rmt0.2')!.rewindOnClose, true);
  assert.equal(parseDevice('/dev/rmt0.5')!.rewindOnClose, false);
  assert.deepEqual(parseDevice('/dev/nst0'), { drive: 'nst0', rewindOnClose: false, os: 'linux' });
  assert.equal(parseDevice('/dev/st0')!.rewindOnClose, true);
  assert.equal(parseDevice('/dev/rmt0.8'), undefined);
  assert.equal(parseDevice('/home/x'), undefined);
});

test('fixed mode: a big write is stored as blocks; a partial write fails and leaves earlier writes', async () => {
  const p = drive('fx', 512);
  const d = new Drive(p, false);
  d.write(Buffer.alloc(512 * 1000, 1), 512 * 100);
  assert.throws(() => d.write(Buffer.alloc(700, 2), 700), (e: TapeError) => e.errno === 'EINVAL');
  d.close();
  const map = await tapemap(p.aws);
  assert.deepEqual(map.files.map((f) => [f.blocks, f.minBlock, f.maxBlock]), [[1000, 512, 512]], map.raw);
  assert.equal(readState(p).marks.length, 1);
});

test('variable mode: one block per write; blocks over 64 KiB become AWSTAPE segments and read back whole', () => {
  const p = drive('vr', 0);
  const d = new Drive(p, false);
  const data = Buffer.alloc(262144 * 2);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  d.write(data, 262144);
  d.close();
  const r = new Drive(p, false);
  r.rewind();
  const got: Buffer[] = [];
  assert.equal(r.read(262144, Infinity, (b) => got.push(b)), 2);
  assert.ok(Buffer.concat(got).equals(data));
  assert.deepEqual(got.map((b) => b.length), [262144, 262144]);
  r.close();
});

test('rewrite in the middle truncates; hetget extracts each file', async () => {
  const p = drive('rw', 512);
  for (let k = 1; k <= 4; k++) {
    const d = new Drive(p, false);
    d.write(Buffer.alloc(512 * k, k), 512);
    d.close();
  }
  assert.equal((await tapemap(p.aws)).files.length, 4);
  const d = new Drive(p, false);
  d.rewind();
  d.fsf(2);
  d.write(Buffer.alloc(1024, 9), 512);
  d.close();
  const map = await tapemap(p.aws);
  assert.deepEqual(map.files.map((f) => f.blocks), [1, 2, 2]);
  assert.ok((await hetget(p.aws, 3, dir)).equals(Buffer.alloc(1024, 9)));
});

test('capacity: the write that crosses it puts the whole blocks that fit on tape (short count), then ENXIO', () => {
  const p = drive('cap', 512, 10 * 518);
  const d = new Drive(p, false);
  d.write(Buffer.alloc(512 * 8), 512 * 8);
  assert.throws(() => d.write(Buffer.alloc(512 * 4), 512 * 4), (e: TapeError) => e.errno === 'ENXIO');
  assert.equal(d.dataBytes, 512 * 10);
  assert.throws(() => d.write(Buffer.alloc(512), 512), (e: TapeError) => e.errno === 'ENXIO');
  d.close();
});
