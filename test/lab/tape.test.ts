/** Strict tape behaviour of the lab's AIX and Linux tape hosts, checked over ssh and with Hercules' tapemap. */
import { after, before, beforeEach, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startLab, type Lab } from '../../lab/index';
import { hetget, ok, tapemap } from './helpers';

let lab: Lab;
let tmp: string;
const W = '/home/mksysb';

before(async () => {
  lab = await startLab({
    sources: ['aix01'],
    tapeHosts: [
      { name: 'tapesrv', os: 'aix', drives: 2, capacityBytes: 4 * 1024 * 1024 * 1024 },
      { name: 'small', os: 'aix', drives: 1, capacityBytes: 600 * 1024 },
      { name: 'lnx', os: 'linux', drives: 1 },
    ],
  });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-tape-'));
  // Files on the tape hosts: an odd-sized one and whole-block ones.
  for (const h of ['tapesrv', 'small', 'lnx']) {
    const root = lab.host(h).root;
    fs.writeFileSync(path.join(root, W, 'odd.img'), crypto.randomBytes(512 * 10 + 77));
    fs.writeFileSync(path.join(root, W, 'two.img'), crypto.randomBytes(512 * 40));
    fs.writeFileSync(path.join(root, W, 'four.img'), crypto.randomBytes(512 * 300));
    fs.writeFileSync(path.join(root, W, 'big.img'), crypto.randomBytes(1024 * 1024));
  }
});
after(async () => {
  await lab?.down();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const aws = (host = 'tapesrv', dev = 'rmt0') => lab.host(host).devices![dev]!.aws;
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const hostFile = (host: string, name: string) => fs.readFileSync(path.join(lab.host(host).root, W, name));

/** Writes a 4-file tape like the procedure does (block size 512). */
async function fourFiles(host = 'tapesrv'): Promise<void> {
  await ok(
    lab,
    host,
    `chdev -l rmt0 -a extfm=yes && chdev -l rmt0 -a block_size=512 && ` +
      `dd if=${W}/odd.img of=/dev/rmt0 bs=512 conv=sync && tctl -f /dev/rmt0 rewind && tctl -f /dev/rmt0.1 fsf 1 && ` +
      `dd if=${W}/two.img of=/dev/rmt0.1 bs=512 && tctl -f /dev/rmt0 rewind && tctl -f /dev/rmt0.1 fsf 2 && ` +
      `echo "Dummy tape TOC" | dd of=/dev/rmt0.1 bs=512 conv=sync && tctl -f /dev/rmt0 rewind && tctl -f /dev/rmt0.1 fsf 3 && ` +
      `dd if=${W}/four.img of=/dev/rmt0.1 bs=512 && tctl -f /dev/rmt0 rewind`,
  );
}

describe('AIX tape host', () => {
  beforeEach(async () => {
    await lab.clearFaults();
    await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 erase');
  });

  test('dd of an odd-sized file without conv=sync to a 512-byte fixed-block device fails', async () => {
    await ok(lab, 'tapesrv', 'chdev -l rmt0 -a block_size=512');
    const r = await lab.exec('tapesrv', `dd if=${W}/odd.img of=/dev/rmt0.1 bs=512`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /0511-053 The write failed\.\n: A system call received a parameter that is not valid\./);
    const log = (await lab.commandLog('tapesrv')).filter((e) => e.command === 'dd').at(-1)!;
    assert.equal((log.tape as { error: string }).error, 'EINVAL');
    assert.notEqual(log.exit, 0);
    // With conv=sync the same file goes on tape, padded with NULs to whole blocks.
    await ok(lab, 'tapesrv', `tctl -f /dev/rmt0 rewind && dd if=${W}/odd.img of=/dev/rmt0 bs=512 conv=sync`);
    const f1 = await hetget(aws(), 1, tmp);
    const odd = hostFile('tapesrv', 'odd.img');
    assert.ok(f1.equals(Buffer.concat([odd, Buffer.alloc(512 - 77)])));
  });

  test('a piped write shorter than the block size fails without conv=sync', async () => {
    await ok(lab, 'tapesrv', 'chdev -l rmt0 -a block_size=512');
    const r = await lab.exec('tapesrv', 'echo "Dummy tape TOC" | dd of=/dev/rmt0.1 bs=512');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /0511-053/);
  });

  test('the rewind device writes two filemarks and rewinds; the no-rewind device one and stays', async () => {
    await ok(lab, 'tapesrv', `chdev -l rmt0 -a block_size=512 && dd if=${W}/two.img of=/dev/rmt0 bs=512`);
    let st = lab.tapeState('tapesrv', 'rmt0');
    assert.equal(st.marks.length, 2);
    assert.equal(st.offset, 0);
    await ok(lab, 'tapesrv', `dd if=${W}/two.img of=/dev/rmt0.1 bs=512`);
    st = lab.tapeState('tapesrv', 'rmt0');
    assert.equal(st.marks.length, 1);
    assert.equal(st.offset, st.size, 'positioned after the filemark it wrote');
  });

  test('writing file 2 again erases files 3 and 4', async () => {
    await fourFiles();
    assert.equal((await tapemap(aws())).files.length, 4);
    await ok(lab, 'tapesrv', `tctl -f /dev/rmt0 rewind && tctl -f /dev/rmt0.1 fsf 1 && dd if=${W}/four.img of=/dev/rmt0.1 bs=512`);
    const map = await tapemap(aws());
    assert.deepEqual(map.files.map((f) => f.blocks), [11, 300], map.raw);
    const f2 = await hetget(aws(), 2, tmp);
    assert.ok(f2.equals(hostFile('tapesrv', 'four.img')));
  });

  test('chdev rewinds the tape', async () => {
    await fourFiles();
    await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0.1 fsf 2');
    assert.equal(lab.tapeState('tapesrv', 'rmt0').marks.filter((m) => m < lab.tapeState('tapesrv', 'rmt0').offset).length, 2);
    await ok(lab, 'tapesrv', 'chdev -l rmt0 -a block_size=512');
    assert.equal(lab.tapeState('tapesrv', 'rmt0').offset, 0);
    const log = (await lab.commandLog('tapesrv')).filter((e) => e.command === 'chdev').at(-1)!;
    assert.deepEqual((log.position as { file: number }).file, 1);
    // Reading now gives file 1.
    const out = await ok(lab, 'tapesrv', 'dd if=/dev/rmt0.1 bs=512 count=1 | od -c | head -1');
    const first = hostFile('tapesrv', 'odd.img').subarray(0, 1);
    assert.ok(out.length > 0 && first.length === 1);
  });

  test('dd reads one tape file up to its filemark; lsmksysb and restore read the archives', async () => {
    await fourFiles();
    const out = await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 rewind && tctl -f /dev/rmt0.1 fsf 3 && dd if=/dev/rmt0.1 bs=262144 | openssl dgst -sha256');
    assert.ok(out.includes(sha(hostFile('tapesrv', 'four.img'))), out);
    const st = lab.tapeState('tapesrv', 'rmt0');
    assert.equal(st.offset, st.marks[3]! + 6, 'positioned past the 4th filemark');
    // A random file 4 is not a backup archive: lsmksysb -V says so.
    const v = await lab.exec('tapesrv', 'lsmksysb -V -f /dev/rmt0');
    assert.notEqual(v.code, 0);
  });

  test('reading a blank tape fails with an AIX message', async () => {
    const r = await lab.exec('tapesrv', 'dd if=/dev/rmt0 bs=512 count=1');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /0511-051 The read failed\.\n: There is an input or output error\./);
  });

  test('fsf past the last filemark and bsf past the beginning fail with EIO', async () => {
    await fourFiles();
    const f = await lab.exec('tapesrv', 'tctl -f /dev/rmt0.1 fsf 9');
    assert.notEqual(f.code, 0);
    assert.match(f.stderr, /input or output error/);
    await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 rewind; tctl -f /dev/rmt0.1 fsf 2');
    await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0.1 bsf 1');
    const st = lab.tapeState('tapesrv', 'rmt0');
    assert.equal(st.offset, st.marks[1], 'bsf leaves the tape on the BOT side of the filemark');
    const b = await lab.exec('tapesrv', 'tctl -f /dev/rmt0.1 bsf 5');
    assert.notEqual(b.code, 0);
    assert.equal(lab.tapeState('tapesrv', 'rmt0').offset, 0);
  });

  test('variable block mode: each write is one block', async () => {
    await ok(lab, 'tapesrv', `chdev -l rmt0 -a block_size=0 && dd if=${W}/big.img of=/dev/rmt0.1 bs=32768`);
    const map = await tapemap(aws());
    assert.deepEqual(map.files.map((f) => [f.blocks, f.minBlock, f.maxBlock]), [[32, 32768, 32768]], map.raw);
    // a 262144-byte block is stored as 65535-byte AWSTAPE segments and read back whole
    await ok(lab, 'tapesrv', `tctl -f /dev/rmt0 rewind && dd if=${W}/big.img of=/dev/rmt0.1 bs=262144`);
    const out = await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 rewind && dd if=/dev/rmt0.1 bs=262144 | openssl dgst -sha256');
    assert.ok(out.includes(sha(hostFile('tapesrv', 'big.img'))));
    const small = await lab.exec('tapesrv', 'tctl -f /dev/rmt0 rewind && dd if=/dev/rmt0.1 bs=512 count=1');
    assert.notEqual(small.code, 0, 'reading a 256 KiB block into 512 bytes fails');
  });

  test('end of medium fails the write with ENXIO; a later write there fails too', async () => {
    await ok(lab, 'small', 'chdev -l rmt0 -a block_size=512');
    const r = await lab.exec('small', `dd if=${W}/big.img of=/dev/rmt0.1 bs=512`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /0511-053 The write failed\.\n: There is a request to a device or address that does not exist\./);
    const r2 = await lab.exec('small', `dd if=${W}/two.img of=/dev/rmt0.1 bs=512`);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /0511-053 The write failed/);
    const st = lab.tapeState('small', 'rmt0');
    assert.ok(st.size <= 600 * 1024 + 12, `cartridge holds at most its capacity (${st.size})`);
  });

  test('a second drive is a separate cartridge; lsdev and lsattr describe the drives', async () => {
    await ok(lab, 'tapesrv', `chdev -l rmt1 -a block_size=512 && dd if=${W}/two.img of=/dev/rmt1.1 bs=512`);
    assert.equal(lab.tapeState('tapesrv', 'rmt0').size, 0);
    assert.ok(lab.tapeState('tapesrv', 'rmt1').size > 0);
    const devs = await ok(lab, 'tapesrv', 'lsdev -Cc tape');
    assert.match(devs, /^rmt0 Available .*\nrmt1 Available /);
    assert.match(await ok(lab, 'tapesrv', 'lsattr -El rmt1'), /^block_size\s+512\s/m);
    assert.match(await ok(lab, 'tapesrv', 'chdev -l rmt0 -a extfm=yes && lsattr -El rmt0 -a extfm'), /^extfm\s+yes/m);
    const bad = await lab.exec('tapesrv', 'chdev -l rmt0 -a block_size=big');
    assert.notEqual(bad.code, 0);
    const none = await lab.exec('tapesrv', 'tctl -f /dev/rmt7 rewind');
    assert.notEqual(none.code, 0);
  });

  test('dd refuses GNU-only operands on AIX', async () => {
    for (const op of ['status=progress', 'iflag=fullblock', 'oflag=direct', 'bs=1M']) {
      const r = await lab.exec('tapesrv', `dd if=${W}/two.img of=/dev/null ${op}`);
      assert.notEqual(r.code, 0, op);
    }
    await ok(lab, 'tapesrv', `dd if=${W}/two.img of=${W}/copy bs=512 && cmp ${W}/two.img ${W}/copy`);
    await ok(lab, 'tapesrv', `dd if=/dev/null of=${W}/copy bs=1 seek=1000`);
    assert.equal(fs.statSync(path.join(lab.host('tapesrv').root, W, 'copy')).size, 1000);
  });
});

describe('Linux tape host', () => {
  test('mt and dd on /dev/nst0', async () => {
    await ok(
      lab,
      'lnx',
      `mt -f /dev/nst0 rewind && mt -f /dev/nst0 setblk 512 && dd if=${W}/odd.img of=/dev/nst0 bs=512 conv=sync status=none && ` +
        `dd if=${W}/two.img of=/dev/nst0 bs=512 && mt -f /dev/nst0 rewind && mt -f /dev/nst0 fsf 1 && ` +
        `dd if=${W}/four.img of=/dev/nst0 bs=512 && mt -f /dev/nst0 eod && mt -f /dev/nst0 status`,
    );
    const map = await tapemap(aws('lnx', 'nst0'));
    assert.deepEqual(map.files.map((f) => f.blocks), [11, 300], map.raw);
    const r = await lab.exec('lnx', `dd if=${W}/odd.img of=/dev/nst0 bs=512`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Invalid argument/);
    // no cartridge: mt status succeeds and says DR_OPEN; tape I/O fails
    await lab.fault('lnx', 'no-tape');
    assert.match(await ok(lab, 'lnx', 'mt -f /dev/nst0 status'), /DR_OPEN/);
    assert.match((await lab.exec('lnx', 'mt -f /dev/nst0 rewind')).stderr, /No medium found/);
    await lab.clearFaults('lnx');
    // GNU tools are there on Linux
    assert.match(await ok(lab, 'lnx', `sha256sum ${W}/two.img`), new RegExp(sha(hostFile('lnx', 'two.img'))));
  });
});

describe('drive speed', () => {
  test('a drive at tapeBytesPerSecond counts an underrun each time a late feed let it run dry; a file feeds it without one', async () => {
    await lab.setHostConfig('tapesrv', { tapeBytesPerSecond: 64 << 20 });
    try {
      const log = async () => (await lab.commandLog('tapesrv')).filter((e) => e.command === 'dd' && (e.tape as { op?: string } | undefined)?.op === 'write').at(-1)!.tape as { bytes: number; underruns?: number };
      await ok(lab, 'tapesrv', `chdev -l rmt1 -a block_size=512 && tctl -f /dev/rmt1 rewind && dd if=${W}/big.img of=/dev/rmt1.1 bs=512`);
      assert.deepEqual([(await log()).bytes, (await log()).underruns], [1 << 20, 0]);
      // Three pieces of 9 MiB, 0.5 s apart. The lab's dd takes a pipe's input in pieces of up to 8 MiB (in effect the
      // drive's buffer), each written in about 0.13 s, and between the pieces the drive has nothing to write.
      const piece = `cat ${Array(9).fill(`${W}/big.img`).join(' ')}`;
      await ok(lab, 'tapesrv', `tctl -f /dev/rmt1 rewind && { for i in 1 2 3; do ${piece}; sleep 0.5; done; } | dd of=/dev/rmt1.1 ibs=512 obs=512`);
      const slow = await log();
      assert.equal(slow.bytes, 27 << 20);
      assert.ok((slow.underruns ?? 0) >= 2, `underruns ${slow.underruns}`);
    } finally {
      await lab.setHostConfig('tapesrv', { tapeBytesPerSecond: undefined });
    }
  });
});
