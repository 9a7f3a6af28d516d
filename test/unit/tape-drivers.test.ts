import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aixDriver, driverFor, linuxDriver, parseCartridgeStart, parseStatus, readBlockSize, writeRecordAt } from '../../src/tape/drivers';
import { parseSha256WithStatus } from '../../src/tape/digest';
import { dummyTocBytes } from '../../src/tape/layout';
import { and } from '../../src/tape/shell';

// Stub tape commands: each logs its argv (as the shell delivered it) and succeeds; `dd` runs the real dd with the
// tape device replaced by files, so conv=sync padding and the read-back pipeline are exercised for real.
let dir = '';
const SEP = '\x1f';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tape-drivers-'));
  const logger = (name: string) =>
    `#!/bin/sh\nprintf '%s' ${name} >> "$STUBLOG"; for a; do printf '\\037%s' "$a" >> "$STUBLOG"; done; echo >> "$STUBLOG"\n`;
  for (const name of ['tctl', 'chdev', 'mt', 'lsmksysb']) {
    writeFileSync(join(dir, name), `${logger(name)}exit 0\n`);
    chmodSync(join(dir, name), 0o755);
  }
  writeFileSync(
    join(dir, 'dd'),
    `${logger('dd')}n=$#\nfor a; do\n  case $a in of=/dev/*) a="of=$STUBDIR/written";; if=/dev/*) a="if=$STUBDIR/tape";; esac\n  set -- "$@" "$a"\ndone\nshift $n\nexec /bin/dd "$@" 2>/dev/null\n`,
  );
  chmodSync(join(dir, 'dd'), 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function run(script: string): { code: number | null; stdout: string; log: string[][] } {
  writeFileSync(join(dir, 'log'), '');
  const r = spawnSync('/bin/sh', ['-c', script], {
    encoding: 'utf8',
    env: { PATH: `${dir}:/usr/bin:/bin`, STUBLOG: join(dir, 'log'), STUBDIR: dir },
  });
  const log = readFileSync(join(dir, 'log'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(SEP));
  return { code: r.status, stdout: r.stdout, log };
}

test('AIX prepare runs the procedure: extfm, rewind, block size 512, rewind', () => {
  const r = run(and(...aixDriver.prepare('rmt0')));
  assert.equal(r.code, 0);
  assert.deepEqual(r.log, [
    ['chdev', '-l', 'rmt0', '-a', 'extfm=yes'],
    ['tctl', '-f', '/dev/rmt0', 'rewind'],
    ['chdev', '-l', 'rmt0', '-a', 'block_size=512'],
    ['tctl', '-f', '/dev/rmt0', 'rewind'],
  ]);
});

test('Linux prepare: rewind, setblk 512 on the no-rewind device', () => {
  assert.deepEqual(run(and(...linuxDriver.prepare('st0'))).log, [
    ['mt', '-f', '/dev/nst0', 'rewind'],
    ['mt', '-f', '/dev/nst0', 'setblk', '512'],
  ]);
  assert.equal(linuxDriver.noRewindDevice('nst2'), '/dev/nst2');
  assert.equal(linuxDriver.rewindDevice('nst2'), '/dev/st2');
});

test('absolute positioning before each record: rewind, then fsf k-1 on the no-rewind device', () => {
  assert.deepEqual(run(and(...aixDriver.positionForRecord('rmt1', 1))).log, [['tctl', '-f', '/dev/rmt1', 'rewind']]);
  for (const k of [2, 3, 4] as const) {
    assert.deepEqual(run(and(...aixDriver.positionForRecord('rmt1', k))).log, [
      ['tctl', '-f', '/dev/rmt1', 'rewind'],
      ['tctl', '-f', '/dev/rmt1.1', 'fsf', String(k - 1)],
    ]);
    assert.deepEqual(run(and(...linuxDriver.positionForRecord('st0', k))).log, [
      ['mt', '-f', '/dev/nst0', 'rewind'],
      ['mt', '-f', '/dev/nst0', 'fsf', String(k - 1)],
    ]);
  }
});

test('record writes: dd flags per record, always to the no-rewind device', () => {
  const img = join(dir, "1_boot image's.img");
  writeFileSync(img, Buffer.alloc(1000, 7));
  const r1 = run(writeRecordAt(aixDriver, 'rmt0', 1, img));
  assert.equal(r1.code, 0);
  assert.deepEqual(r1.log, [
    ['tctl', '-f', '/dev/rmt0', 'rewind'],
    ['dd', `if=${img}`, 'of=/dev/rmt0.1', 'bs=512', 'conv=sync'],
  ]);
  const written = readFileSync(join(dir, 'written'));
  assert.equal(written.length, 1024, 'conv=sync pads record 1 to 512');
  assert.ok(written.subarray(1000).every((b) => b === 0));

  const r2 = run(writeRecordAt(aixDriver, 'rmt0', 2, img));
  assert.deepEqual(r2.log.at(-1), ['dd', `if=${img}`, 'of=/dev/rmt0.1', 'bs=512']);
  assert.deepEqual(r2.log.at(-2), ['tctl', '-f', '/dev/rmt0.1', 'fsf', '1']);

  const r4 = run(writeRecordAt(linuxDriver, 'st0', 4, img, 262144));
  assert.deepEqual(r4.log.at(-1), ['dd', `if=${img}`, 'of=/dev/nst0', 'bs=262144', 'conv=sync']);
  assert.deepEqual(r4.log.at(-2), ['mt', '-f', '/dev/nst0', 'fsf', '3']);
  assert.equal(readFileSync(join(dir, 'written')).length, 262144, 'record 4 above 512 padded to its block');
  const r4small = run(writeRecordAt(aixDriver, 'rmt0', 4, img, 512));
  assert.deepEqual(r4small.log.at(-1), ['dd', `if=${img}`, 'of=/dev/rmt0.1', 'bs=512']);
  assert.deepEqual(r4small.log.at(-2), ['tctl', '-f', '/dev/rmt0.1', 'fsf', '3']);
  assert.throws(() => aixDriver.writeRecord('rmt0', 4, { file: img, blockSize: 1024, sync: false }), /with conv=sync/);

  assert.throws(() => aixDriver.writeRecord('rmt0', 1, { file: img, blockSize: 512, sync: false }), /conv=sync/);
  assert.throws(() => aixDriver.writeRecord('rmt0', 2, { file: img, blockSize: 1024, sync: false }), /block size 512/);
  assert.throws(() => aixDriver.writeRecord('rmt0', 3, { file: img, blockSize: 512, sync: true }), /writeDummyToc/);
  assert.throws(() => writeRecordAt(aixDriver, 'rmt0', 4, null));
});

test('record 3: the dummy TOC lands as 512 bytes', () => {
  for (const driver of [aixDriver, linuxDriver]) {
    const dev = driver.os === 'aix' ? 'rmt0' : 'st0';
    const r = run(writeRecordAt(driver, dev, 3, null));
    assert.equal(r.code, 0);
    assert.deepEqual(r.log.at(-1), ['dd', `of=${driver.noRewindDevice(dev)}`, 'bs=512', 'conv=sync']);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'written'))), dummyTocBytes());
  }
});

test('read-back sha256 of a record, with dd status, on both OS (openssl on AIX, sha256sum on Linux)', () => {
  const data = Buffer.alloc(3 * 512, 0x41);
  writeFileSync(join(dir, 'tape'), data);
  const want = createHash('sha256').update(data).digest('hex');
  const aix = run(aixDriver.readRecordSha256('rmt0', 4, 512));
  assert.deepEqual(aix.log.at(-1), ['dd', 'if=/dev/rmt0.1', `bs=${readBlockSize(512)}`]);
  assert.deepEqual(aix.log.at(-2), ['tctl', '-f', '/dev/rmt0.1', 'fsf', '3']);
  assert.deepEqual(parseSha256WithStatus(aix.stdout), { ok: true, status: 0, sha256: want });
  const lin = run(linuxDriver.readRecordSha256('nst0', 2, 512));
  assert.deepEqual(parseSha256WithStatus(lin.stdout), { ok: true, status: 0, sha256: want });
  // a failing read is reported even though the digest command succeeds
  rmSync(join(dir, 'tape'));
  const bad = parseSha256WithStatus(run(aixDriver.readRecordSha256('rmt0', 1, 512)).stdout);
  assert.equal(bad.ok, false);
  assert.notEqual(bad.status, 0);
});

test('readBlockSize: a multiple of the block size near 256 KiB', () => {
  assert.equal(readBlockSize(512), 262144);
  assert.equal(readBlockSize(262144), 262144);
  assert.equal(readBlockSize(1024 * 1024), 1024 * 1024);
  assert.equal(readBlockSize(3 * 512 * 100) % (3 * 512 * 100), 0);
});

test('cartridge start: blank vs data', () => {
  writeFileSync(join(dir, 'tape'), Buffer.alloc(700, 1));
  const r = run(aixDriver.readCartridgeStart('rmt0'));
  assert.deepEqual(r.log[0], ['tctl', '-f', '/dev/rmt0', 'rewind']);
  assert.deepEqual(r.log[1], ['dd', 'if=/dev/rmt0.1', 'bs=262144', 'count=1']);
  assert.deepEqual(parseCartridgeStart(r.stdout), { bytes: 700, readStatus: 0, hasData: true });
  writeFileSync(join(dir, 'tape'), '');
  assert.deepEqual(parseCartridgeStart(run(linuxDriver.readCartridgeStart('st0')).stdout), { bytes: 0, readStatus: 0, hasData: false });
});

test('verify, status, rewind, block size', () => {
  assert.deepEqual(run(aixDriver.verifyMksysb('rmt0')!).log, [
    ['tctl', '-f', '/dev/rmt0', 'rewind'],
    ['lsmksysb', '-V', '-f', '/dev/rmt0'],
  ]);
  assert.equal(linuxDriver.verifyMksysb('st0'), null);
  assert.deepEqual(run(aixDriver.status('rmt0')).log, [['tctl', '-f', '/dev/rmt0.1', 'status']]);
  assert.deepEqual(run(linuxDriver.status('st0')).log, [['mt', '-f', '/dev/nst0', 'status']]);
  assert.deepEqual(run(and(...aixDriver.setBlockSize('rmt0', 262144))).log, [
    ['chdev', '-l', 'rmt0', '-a', 'block_size=262144'],
  ]);
  assert.deepEqual(run(and(...linuxDriver.setBlockSize('st0', 1024))).log, [['mt', '-f', '/dev/nst0', 'setblk', '1024']]);
  assert.throws(() => aixDriver.setBlockSize('rmt0', 1000));
  assert.equal(driverFor('aix'), aixDriver);
  assert.equal(driverFor('linux'), linuxDriver);
});

test('device names are validated per OS, hostile names refused', () => {
  for (const bad of ['rmt', 'rmt0;reboot', '/dev/rmt0', 'rmt0.1', 'st0', 'rmt1234', 'rmt0\n']) {
    assert.throws(() => aixDriver.rewind(bad), /tape device/, bad);
  }
  for (const bad of ['rmt0', 'nst', 'sda', 'st0 ', '../st0']) assert.throws(() => linuxDriver.rewind(bad), /tape device/, bad);
  assert.equal(aixDriver.noRewindDevice('rmt12'), '/dev/rmt12.1');
});

test('parseStatus', () => {
  assert.equal(parseStatus('aix', 0, 'rmt0 Available').loaded, true);
  assert.equal(parseStatus('aix', 1, 'tctl: 0511-083 Device not ready').loaded, false);
  assert.equal(parseStatus('linux', 0, 'SCSI 2 tape drive:\nGeneral status bits on (41010000):\n BOT ONLINE IM_REP_EN').loaded, true);
  assert.equal(parseStatus('linux', 0, 'General status bits on (50000):\n DR_OPEN IM_REP_EN').loaded, false);
  assert.equal(parseStatus('linux', 2, '/dev/nst0: No medium found').loaded, false);
});
