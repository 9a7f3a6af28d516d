/**
 * The AIX hosts' `wc` reads all of its input, as AIX's does (AIX-TAPE.md, "AIX userland"), prints AIX's format and
 * logs the bytes it read; `ls -ln FILE` gives the size without reading the file, in field 5 as on AIX.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, type CommandLogEntry, type Lab } from '../../lab/index';
import { ok } from './helpers';

let lab: Lab;
const W = '/home/mksysb';
const SIZE = (3 << 20) + 7;

before(async () => {
  lab = await startLab({ sources: ['aix01'], tapeHosts: [{ name: 'lnxtape', os: 'linux' }] });
  const root = lab.host('aix01').root;
  fs.writeFileSync(path.join(root, W, 'image.bin'), Buffer.alloc(SIZE, 0x41));
  fs.writeFileSync(path.join(root, W, 'text'), 'one two\tthree\n\nfour  five\nsix');
});
after(async () => {
  await lab?.down();
});

async function wcEntries(host: string): Promise<CommandLogEntry[]> {
  return (await lab.commandLog(host)).filter((e) => e.command === 'wc');
}

test('wc is a double on an AIX host and reads the whole file behind `wc -c < FILE`', async () => {
  assert.equal(await ok(lab, 'aix01', 'command -v wc'), '/lab/bin-aix/wc\n');
  const before = (await wcEntries('aix01')).length;
  // AIX prints each count as " %7ld" (wc.c's wcp()).
  assert.equal(await ok(lab, 'aix01', `wc -c < ${W}/image.bin`), ` ${SIZE}\n`);
  const entries = (await wcEntries('aix01')).slice(before);
  assert.equal(entries.length, 1);
  assert.deepEqual(entries[0]!.args, ['-c']);
  assert.equal(entries[0]!.exit, 0);
  assert.equal(entries[0]!.bytesRead, SIZE, 'wc -c read every byte of the file');
  console.log(`wc -c < FILE on aix01: file ${SIZE} bytes, wc read ${String(entries[0]!.bytesRead)} bytes`);
});

test("wc's counts and format as AIX prints them: -l, -w, the default, several files, stdin, a missing file", async () => {
  const before = (await wcEntries('aix01')).length;
  assert.equal(await ok(lab, 'aix01', `wc ${W}/text`), '       3       6      29 /home/mksysb/text\n');
  assert.equal(await ok(lab, 'aix01', `wc -l < ${W}/text`), '       3\n');
  assert.equal(await ok(lab, 'aix01', `wc -wl ${W}/text`), '       3       6 /home/mksysb/text\n');
  assert.equal(await ok(lab, 'aix01', `printf 'a b\\nc' | wc -w`), '       3\n');
  assert.equal(
    await ok(lab, 'aix01', `wc -c ${W}/text ${W}/image.bin`),
    `      29 /home/mksysb/text\n ${SIZE} /home/mksysb/image.bin\n ${SIZE + 29} total\n`,
  );
  const missing = await lab.exec('aix01', `wc -c ${W}/none ${W}/text`);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, 'wc: 0653-755 Cannot open /home/mksysb/none.\n');
  assert.equal(missing.stdout, '      29 /home/mksysb/text\n');
  const bad = await lab.exec('aix01', `wc -c -m ${W}/text`);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^Usage: wc /);
  const read = (await wcEntries('aix01')).slice(before).map((e) => e.bytesRead);
  assert.deepEqual(read, [29, 29, 29, 5, SIZE + 29, 29, 0]);
});

test('ls -ln FILE: field 5 is the size, past 2^31 and with spaces in the name, without reading the file', async () => {
  const root = lab.host('aix01').root;
  const big = 3 * 2 ** 31 + 5;
  // Sparse: the size is what counts, not the blocks.
  fs.writeFileSync(path.join(root, W, 'big file.img'), '');
  fs.truncateSync(path.join(root, W, 'big file.img'), big);
  const before = (await wcEntries('aix01')).length;
  const line = await ok(lab, 'aix01', `ls -ln '${W}/big file.img'`);
  const fields = line.trim().split(/\s+/);
  assert.match(fields[0]!, /^-[rwx-]{9}/, line);
  assert.equal(fields[2], '0', 'numeric owner');
  assert.equal(fields[3], '0', 'numeric group');
  assert.equal(fields[4], String(big), line);
  assert.ok(line.trimEnd().endsWith(`${W}/big file.img`), line);
  assert.equal(await ok(lab, 'aix01', `ls -ln ${W}/image.bin | awk '{ print $5 }'`), `${SIZE}\n`);
  assert.equal((await wcEntries('aix01')).length, before, 'no wc ran');
});

test('a Linux host keeps GNU wc', async () => {
  assert.equal(await ok(lab, 'lnxtape', `printf 'abc' | wc -c`), '3\n');
  assert.equal((await wcEntries('lnxtape')).length, 0);
});
