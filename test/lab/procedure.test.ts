/**
 * The seed's manual procedure (AIX-TAPE.md, "The procedure the project automates"), word for word, over OpenSSH
 * against the lab; then Hercules' tapemap and hetget check the cartridge. Once per shell an AIX host of the lab can
 * have (lksh, dash, ksh93): the procedure's command lines must work under each.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AIX_SHELLS, startLab } from '../../lab/index';
import { execFileP, hetget, ok, scpFrom, scpTo, tapemap } from './helpers';

const WORKDIR = '/home/mksysb/seed';

const SOURCE_STEPS = [
  'bosboot -ad /dev/rmt0 -b $WORKDIR/1_bosboot.img',
  'mkinsttape $WORKDIR/2_mkinsttape.img',
  'mksysb -e -i -p $WORKDIR/4_mksysb.img',
];

const TAPE_STEPS = [
  'chdev -l rmt0 -a extfm=yes',
  'tctl -f /dev/rmt0 rewind',
  'chdev -l rmt0 -a block_size=512',
  'tctl -f /dev/rmt0 rewind',
  'dd if=$WORKDIR/1_bosboot.img of=/dev/rmt0 bs=512 conv=sync',
  'tctl -f /dev/rmt0 rewind; tctl -f /dev/rmt0.1 fsf 1',
  'dd if=$WORKDIR/2_mkinsttape.img of=/dev/rmt0.1 bs=512',
  'tctl -f /dev/rmt0 rewind; tctl -f /dev/rmt0.1 fsf 2',
  'echo "Dummy tape TOC" | dd of=/dev/rmt0.1 bs=512 conv=sync',
  'tctl -f /dev/rmt0 rewind; tctl -f /dev/rmt0.1 fsf 3',
  'dd if=$WORKDIR/4_mksysb.img of=/dev/rmt0.1 bs=512',
  'tctl -f /dev/rmt0 rewind',
  'lsmksysb -V -f /dev/rmt0',
];

for (const shell of AIX_SHELLS) {
  test(`the manual procedure makes a 4-file cartridge that tapemap and hetget read back (${shell})`, async (t) => {
    const lab = await startLab({ shell });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-proc-'));
    t.after(async () => {
      await lab.down();
      fs.rmSync(tmp, { recursive: true, force: true });
    });
    assert.equal(lab.host('aix01').loginShell, lab.host('tapesrv').loginShell);
    assert.match(await ok(lab, 'tapesrv', 'echo "$0"'), new RegExp(`${shell}\\n$`), 'the command line runs under the chosen shell');
    await ok(lab, 'aix01', `mkdir -p ${WORKDIR}`);
    for (const step of SOURCE_STEPS) await ok(lab, 'aix01', `WORKDIR=${WORKDIR}; ${step}`);

    // Copy the three files to the tape host with scp (through this machine).
    await ok(lab, 'tapesrv', `mkdir -p ${WORKDIR}`);
    for (const f of ['1_bosboot.img', '2_mkinsttape.img', '4_mksysb.img']) {
      await scpFrom(lab, 'aix01', `${WORKDIR}/${f}`, path.join(tmp, f));
      await scpTo(lab, 'tapesrv', path.join(tmp, f), `${WORKDIR}/${f}`);
    }
    for (const step of TAPE_STEPS) await ok(lab, 'tapesrv', `WORKDIR=${WORKDIR}; ${step}`);

    const boot = fs.readFileSync(path.join(tmp, '1_bosboot.img'));
    const inst = fs.readFileSync(path.join(tmp, '2_mkinsttape.img'));
    const sysb = fs.readFileSync(path.join(tmp, '4_mksysb.img'));
    assert.notEqual(boot.length % 512, 0, 'the boot image is not a whole number of blocks');
    assert.equal(inst.length % 512, 0);
    assert.equal(sysb.length % 512, 0);

    const aws = lab.host('tapesrv').devices!.rmt0!.aws;
    const map = await tapemap(aws);
    assert.equal(map.files.length, 4, map.raw);
    const padded = Math.ceil(boot.length / 512) * 512;
    assert.deepEqual(
      map.files.map((f) => [f.blocks, f.minBlock, f.maxBlock]),
      [
        [padded / 512, 512, 512],
        [inst.length / 512, 512, 512],
        [1, 512, 512],
        [sysb.length / 512, 512, 512],
      ],
      map.raw,
    );

    const f1 = await hetget(aws, 1, tmp);
    const f2 = await hetget(aws, 2, tmp);
    const f3 = await hetget(aws, 3, tmp);
    const f4 = await hetget(aws, 4, tmp);
    assert.ok(f4.equals(sysb), 'tape file 4 is byte-identical to the source mksysb image');
    assert.ok(f2.equals(inst), 'tape file 2 is the mkinsttape image');
    assert.ok(f3.equals(Buffer.concat([Buffer.from('Dummy tape TOC\n'), Buffer.alloc(512 - 15)])), 'file 3 is the dummy TOC padded to 512');
    assert.ok(f1.equals(Buffer.concat([boot, Buffer.alloc(padded - boot.length)])), 'file 1 is the boot image padded with NULs');

    // `file` recognises the extracted archives too.
    const { stdout } = await execFileP('file', [path.join(tmp, 'file2.bin'), path.join(tmp, 'file4.bin')]);
    assert.equal(stdout.match(/AIX backup\/restore format file/g)?.length, 2, stdout);

    // The command log tells which tape file each dd wrote.
    const writes = (await lab.commandLog('tapesrv')).filter((e) => e.command === 'dd');
    assert.deepEqual(
      writes.map((e) => [(e.tape as { file: number }).file, (e.tape as { op: string }).op, e.exit]),
      [[1, 'write', 0], [2, 'write', 0], [3, 'write', 0], [4, 'write', 0]],
    );
    // restore lists the archives on tape files 2 and 4.
    assert.match(await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 rewind && restore -T -s 4 -f /dev/rmt0.1'), /\.\/bosinst\.data[\s\S]*\.\/usr\/lib\/lab\/data\.00000/);
    assert.match(await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 rewind && restore -T -s 2 -f /dev/rmt0.1'), /\.\/image\.data/);

    const src = await lab.commandLog('aix01');
    assert.deepEqual(src.map((e) => e.command), ['bosboot', 'mkinsttape', 'mksysb']);
  });
}
