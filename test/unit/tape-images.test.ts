import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bosboot,
  fileSize,
  fileSizeOrAbsent,
  freeSpace,
  mkdirP,
  mkinsttape,
  mksysb,
  mksysbFlags,
  needsTapeBlksz,
  parseDf,
  parseSha256,
  parseSha256WithStatus,
  parseSize,
  parseSizeOrAbsent,
  parseSizeValue,
  removeStaging,
  removeTapeBlksz,
  sha256File,
  sha256FilePadded,
  writeTapeBlksz,
} from '../../src/tape/images';

function sh(script: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('source image builders', () => {
  assert.equal(bosboot('rmt0', '/w/b/1_bosboot.img'), 'bosboot -ad /dev/rmt0 -b /w/b/1_bosboot.img');
  assert.equal(bosboot('/dev/rmt3', '/w/b/1_bosboot.img'), 'bosboot -ad /dev/rmt3 -b /w/b/1_bosboot.img');
  assert.throws(() => bosboot('hdisk0', '/w/x'), /boot device/);
  assert.throws(() => bosboot('rmt0', 'relative.img'), /absolute/);
  assert.equal(mkinsttape('/w/b/2_mkinsttape.img'), 'mkinsttape /w/b/2_mkinsttape.img');
  assert.equal(mksysb([], '/w/b/4_mksysb.img'), 'mksysb -i /w/b/4_mksysb.img');
  assert.equal(mksysb(['-p', '-e'], '/w/b/4_mksysb.img'), 'mksysb -e -i -p /w/b/4_mksysb.img');
  assert.equal(mksysb(['-X', '-m', '-i', '-i'], "/w/it's.img"), `mksysb -i -m -X '/w/it'\\''s.img'`);
});

test('mksysb flags: allow-list only, -i always, -e only when asked', () => {
  assert.deepEqual(mksysbFlags([]), ['-i']);
  assert.deepEqual(mksysbFlags(['-e']), ['-e', '-i']);
  for (const bad of ['-F', '-v', '-e -p', '-e;reboot', 'e', '--exclude', '-T', '']) {
    assert.throws(() => mksysbFlags([bad]), /not allowed/, bad);
  }
});

test('/tapeblksz: written only for a record-4 block size other than 512, in the mksysb.sh form', () => {
  assert.equal(writeTapeBlksz(262144), "echo '262144 NONE' > /tapeblksz");
  assert.equal(removeTapeBlksz(), 'rm -f /tapeblksz');
  assert.equal(needsTapeBlksz(512), false);
  assert.equal(needsTapeBlksz(1024), true);
  assert.throws(() => writeTapeBlksz(1000));
});

test('sha256 parsers: openssl old and new forms, sha256sum', () => {
  const h = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  assert.equal(parseSha256(`SHA256(/w/b/4_mksysb.img)= ${h}\n`), h);
  assert.equal(parseSha256(`SHA2-256(/w/b/a (1).img)= ${h}\n`), h);
  assert.equal(parseSha256(`(stdin)= ${h}\n`), h);
  assert.equal(parseSha256(`SHA2-256(stdin)= ${h.toUpperCase()}`), h);
  assert.equal(parseSha256(`${h}  /w/b/4_mksysb.img\n`), h);
  assert.equal(parseSha256(`${h}  -\n`), h);
  assert.equal(parseSha256(`${h} */w/x\n`), h);
  assert.throws(() => parseSha256('openssl: not found\n'));
  assert.throws(() => parseSha256(`SHA1(x)= ${'a'.repeat(40)}`));
});

test('sha256 of a file on both OS forms, computed for real, hostile name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tape-images-'));
  try {
    const file = join(dir, "x $(id) 'q'.img");
    const data = Buffer.from('hello mksysb\n');
    writeFileSync(file, data);
    const want = createHash('sha256').update(data).digest('hex');
    for (const os of ['aix', 'linux'] as const) {
      const r = sh(sha256File(os, file));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(parseSha256(r.stdout), want, os);
      // padded: the file followed by NULs, as conv=sync writes it to tape
      const padded = Buffer.concat([data, Buffer.alloc(512 - data.length)]);
      const p = parseSha256WithStatus(sh(sha256FilePadded(os, file, 512 - data.length)).stdout);
      assert.deepEqual(p, { ok: true, status: 0, sha256: createHash('sha256').update(padded).digest('hex') });
      const p0 = parseSha256WithStatus(sh(sha256FilePadded(os, file, 0)).stdout);
      assert.equal(p0.sha256, want);
      const missing = parseSha256WithStatus(sh(sha256FilePadded(os, join(dir, 'nope'), 3)).stdout);
      assert.equal(missing.ok, false);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file size and absent file, for real', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tape-images-'));
  try {
    const file = join(dir, 'a b');
    writeFileSync(file, Buffer.alloc(12345));
    assert.equal(parseSize(sh(fileSize(file)).stdout), 12345);
    assert.equal(parseSizeOrAbsent(sh(fileSizeOrAbsent(file)).stdout), 12345);
    assert.equal(parseSizeOrAbsent(sh(fileSizeOrAbsent(join(dir, 'none'))).stdout), null);
    assert.throws(() => parseSize('wc: cannot open'));
    const sub = join(dir, "new dir/it's");
    assert.equal(sh(mkdirP(sub)).code, 0);
    assert.ok(existsSync(sub));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file sizes come from ls -ln field 5, not from reading the file: past 2^31, spaces in the name, absent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tape-images-'));
  try {
    for (const b of [fileSize('/w/x.img'), fileSizeOrAbsent('/w/x.img')]) {
      assert.match(b, /ls -ln \/w\/x\.img /);
      assert.doesNotMatch(b, /\bwc\b/, 'AIX wc reads every byte of the file');
    }
    // Sparse, so the test writes nothing: 6 GiB + 5 is past 2^31 and 2^32.
    const big = join(dir, 'an image  with spaces.img');
    writeFileSync(big, '');
    truncateSync(big, 6 * 2 ** 30 + 5);
    assert.equal(parseSize(sh(fileSize(big)).stdout), 6 * 2 ** 30 + 5);
    assert.equal(parseSizeOrAbsent(sh(fileSizeOrAbsent(big)).stdout), 6 * 2 ** 30 + 5);
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    assert.equal(parseSize(sh(fileSize(empty)).stdout), 0);
    // Absent, and a folder (ls would list what it holds).
    const folder = join(dir, 'a folder');
    mkdirSync(folder);
    writeFileSync(join(folder, 'inside'), 'x'.repeat(99));
    for (const f of [join(dir, 'none'), folder]) {
      const r = sh(fileSize(f));
      assert.notEqual(r.code, 0, f);
      assert.match(r.stderr, /no such regular file/);
      assert.throws(() => parseSize(r.stdout), /no mksysb-tape-size line/);
      const a = sh(fileSizeOrAbsent(f));
      assert.equal(a.code, 0);
      assert.equal(a.stdout, 'mksysb-tape-size absent\n');
      assert.equal(parseSizeOrAbsent(a.stdout), null);
      assert.throws(() => parseSize(a.stdout), /does not exist/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('size lines are found wherever they land', () => {
  assert.equal(parseSize('mksysb-tape-size 12345\n'), 12345);
  assert.equal(parseSize('Welcome to aix01\nAuthorized use only\nmksysb-tape-size 2147483648\n'), 2 ** 31, 'after a banner');
  assert.equal(parseSize('a banner with no newline mksysb-tape-size 7\r\n'), 7);
  assert.equal(parseSizeOrAbsent('mksysb-tape-detached running 42\nmksysb-tape-size 99\nmore\n'), 99, 'with other output around it');
  assert.equal(parseSizeOrAbsent('  4096\nmksysb-tape-size absent\n'), null, 'an untagged number is not a size');
  assert.equal(parseSize('mksysb-tape-size 1\nmksysb-tape-size 2\n'), 2, 'the last one');
  assert.equal(parseSize('mksysb-tape-size   64 \n'), 64);
  assert.equal(parseSize(`mksysb-tape-size ${2 ** 53 - 1}\n`), 2 ** 53 - 1);
  assert.throws(() => parseSize(`mksysb-tape-size ${2 ** 53 + 2}\n`), /too large/);
  assert.throws(() => parseSize('     4096\n'), /no mksysb-tape-size line/, 'a bare count (a banner line could be one)');
  assert.throws(() => parseSize('mksysb-tape-size \n'), /not a byte count/, 'ls printed nothing');
  assert.throws(() => parseSize('mksysb-tape-size 12K\n'), /not a byte count/);
  assert.throws(() => parseSize('mksysb-tape-size -1\n'), /not a byte count/);
  assert.equal(parseSizeValue('  42\n'), 42);
});

test('df -k parsers: AIX, Linux, wrapped Linux line, and the real local df', () => {
  const aix = `Filesystem    1024-blocks      Free %Used    Iused %Iused Mounted on\n/dev/fslv00     20971520  15728640   25%       12     1% /mksysb work\n`;
  assert.deepEqual(parseDf(aix), { filesystem: '/dev/fslv00', totalKiB: 20971520, freeKiB: 15728640, mountedOn: '/mksysb work' });
  const lin = `Filesystem     1K-blocks    Used Available Use% Mounted on\n/dev/sda1      100000000 4000000  96000000   4% /\n`;
  assert.deepEqual(parseDf(lin), { filesystem: '/dev/sda1', totalKiB: 100000000, freeKiB: 96000000, mountedOn: '/' });
  const wrapped = `Filesystem           1K-blocks      Used Available Use% Mounted on\n/dev/mapper/very-long-volume-name\n                      2000       1000      1000  50% /data\n`;
  assert.equal(parseDf(wrapped).freeKiB, 1000);
  assert.equal(parseDf(wrapped).mountedOn, '/data');
  assert.throws(() => parseDf('df: /nope: No such file or directory\n'));
  const real = sh(freeSpace(tmpdir()));
  assert.equal(real.code, 0);
  assert.ok(parseDf(real.stdout).freeKiB > 0);
});

test('removeStaging only inside the work folder, and removes it for real', () => {
  assert.equal(removeStaging('/work/mksysb', '/work/mksysb/b1'), 'rm -rf /work/mksysb/b1');
  for (const [root, d] of [
    ['/work/mksysb', '/work/mksysb'],
    ['/work/mksysb', '/work/mksysbX/b1'],
    ['/work/mksysb', '/work/mksysb/../etc'],
    ['/work/mksysb', '/etc'],
    ['/', '/etc'],
    ['/work/mksysb', 'work/mksysb/b1'],
    ['/work/mksysb', '/work/mksysb//b1'],
  ] as const) {
    assert.throws(() => removeStaging(root, d), /folder/, `${root} ${d}`);
  }
  const root = mkdtempSync(join(tmpdir(), 'tape-images-'));
  try {
    const b = join(root, "b '1'");
    sh(mkdirP(b));
    writeFileSync(join(b, 'x'), 'x');
    assert.equal(sh(removeStaging(root, b)).code, 0);
    assert.equal(existsSync(b), false);
    assert.equal(existsSync(root), true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
