/**
 * The lab's mksysb and mkinsttape images read by bffextract (crates.io bffextract-rs, built from AIX-made archives),
 * a reader nobody here wrote: every entry the lab's generators put in is listed and extracts to the same bytes. And the
 * lab's own readers (lsmksysb, restore) refuse what AIX's restore would misread: entries without their ACL/PCL block.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startLab, type Lab } from '../../lab/index';
import { FS_NAME_X, NUMWDS_TAPE, S_IFDIR, S_IFMT, bffChecksum, pad8, parseBff } from '../../lab/bff';
import { excludePatternsFrom, mkinsttapeFiles, rootvgFiles } from '../../lab/doubles/images';
import { findBffextract } from '../../scripts/bffextract';
import { execFileP, ok } from './helpers';

const W = '/home/mksysb/bff';
const bffextract = process.env.MKSYSB_TEST_BFFEXTRACT || findBffextract({ install: false })?.path;
let lab: Lab;
let tmp: string;

before(async () => {
  assert.ok(bffextract, 'bffextract: run the tests with scripts/test.ts (it builds it) or `npm run bffextract`');
  lab = await startLab({ sources: ['aix01'], mksysbBytes: 3 << 20 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-bff-'));
});
after(async () => {
  await lab?.down();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Expected {
  name: string;
  mode: number;
  data: Buffer;
}

function hostConfig(): { name: string; seed: string; mksysbBytes: number } {
  return JSON.parse(fs.readFileSync(path.join(lab.host('aix01').root, 'var', 'lab', 'config.json'), 'utf8')) as {
    name: string;
    seed: string;
    mksysbBytes: number;
  };
}

/** Copies an image out of the host's tree. */
function copyOut(remote: string): string {
  const local = path.join(tmp, path.basename(remote));
  fs.copyFileSync(path.join(lab.host('aix01').root, remote), local);
  return local;
}

/** `bffextract -t`: one row per entry, "Mode UID GID Size Modified(date time) Filename". */
async function listing(image: string): Promise<Array<{ name: string; size: number; dir: boolean }>> {
  const { stdout } = await execFileP(bffextract!, ['-t', image], { maxBuffer: 16 << 20 });
  const rows = stdout.split('\n').slice(1).filter((l) => l.trim());
  return rows.map((l) => {
    const m = /^\s*([-dlcbps][-rwxsStT]{9}\+?)\s+\S+\s+\S+\s+(\d+)\s+\S+ \S+\s+(.+?)\s*$/.exec(l);
    assert.ok(m, `bffextract -t row: ${JSON.stringify(l)}\n${stdout}`);
    return { name: m[3]!, size: Number(m[2]), dir: m[1]!.startsWith('d') };
  });
}

function walk(dir: string, base = dir, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push('./' + path.relative(base, p) + (e.isDirectory() ? '/' : ''));
    if (e.isDirectory()) walk(p, base, out);
  }
  return out;
}

/** bffextract lists exactly the expected entries and extracts exactly their bytes. */
async function checkWithBffextract(image: string, expected: Expected[]): Promise<void> {
  const isDir = (e: Expected) => (e.mode & S_IFMT) === S_IFDIR;
  assert.deepEqual(
    await listing(image),
    expected.map((e) => ({ name: e.name, size: e.data.length, dir: isDir(e) })),
  );
  const out = fs.mkdtempSync(path.join(tmp, 'x-'));
  await execFileP(bffextract!, ['-C', out, image], { maxBuffer: 16 << 20 });
  for (const e of expected) {
    const p = path.join(out, e.name);
    if (isDir(e)) assert.ok(fs.statSync(p).isDirectory(), `${e.name} is extracted as a directory`);
    else assert.ok(fs.readFileSync(p).equals(e.data), `${e.name}: extracted bytes differ from what the lab wrote`);
  }
  // Nothing else: the parents of the expected entries are the only other paths allowed.
  const want = new Set(expected.map((e) => (isDir(e) ? `${e.name}/` : e.name)));
  for (const e of expected) for (let d = path.posix.dirname(e.name); d !== '.'; d = path.posix.dirname(d)) want.add(`${d}/`);
  assert.deepEqual(walk(out).sort(), [...want].sort());
}

test('mksysb: bffextract lists every entry the generator wrote and extracts the same bytes', async () => {
  await ok(lab, 'aix01', `mkdir -p ${W} && echo '^./tmp/vgdata/' > /etc/exclude.rootvg && mksysb -e -i ${W}/4.img && rm /etc/exclude.rootvg`);
  const c = hostConfig();
  const excl = excludePatternsFrom('^./tmp/vgdata/\n');
  const files = rootvgFiles(c.mksysbBytes, c.name).filter((f) => !excl.some((r) => r.test(f.name)));
  const expected = files.map((f) => ({ name: f.name, mode: f.mode, data: f.data(c.seed) }));
  assert.ok(expected.some((e) => (e.mode & S_IFMT) === S_IFDIR) && expected.filter((e) => e.data.length > 0).length >= 5);
  assert.ok(!expected.some((e) => e.name.startsWith('./tmp/vgdata/')), 'the exclude list applies');
  const log = (await lab.commandLog('aix01')).filter((e) => e.command === 'mksysb').at(-1)!;
  assert.equal(log.files, expected.length, 'the double says it wrote as many entries as the generator lists');
  await checkWithBffextract(copyOut(`${W}/4.img`), expected);
});

test('mkinsttape: bffextract lists every entry (with ./tapeblksz) and extracts the same bytes', async () => {
  await ok(lab, 'aix01', `mkdir -p ${W} && echo '262144 NONE' > /tapeblksz && mkinsttape ${W}/2.img && rm /tapeblksz`);
  const c = hostConfig();
  const expected = mkinsttapeFiles(Buffer.from('262144 NONE\n'), c).map((f) => ({ name: f.meta.name, mode: f.meta.mode, data: f.data }));
  assert.ok(expected.some((e) => e.name === './tapeblksz'));
  await checkWithBffextract(copyOut(`${W}/2.img`), expected);
});

test('the volume header has numwds 0x7FFFFFFF and a checksum over its 72 bytes; entries carry the ACL/PCL block', async () => {
  await ok(lab, 'aix01', `mkdir -p ${W} && mkinsttape ${W}/2v.img`);
  const img = fs.readFileSync(copyOut(`${W}/2v.img`));
  assert.equal(img.readUInt32LE(16), 0x7fffffff);
  assert.equal(NUMWDS_TAPE, 0x7fffffff);
  const vol = Buffer.from(img.subarray(0, 72));
  const sum = vol.readUInt16LE(4);
  vol.writeUInt16LE(0, 4);
  assert.equal(bffChecksum(vol), sum);
  // The first entry (./image.data, mode 0644): header of len dwords, then sizes 2, 2, the ACL and the PCL.
  const len = img[72]! * 8;
  assert.equal(img[73], FS_NAME_X);
  const sec = img.subarray(72 + len, 72 + len + 40);
  const u32 = (o: number) => sec.readUInt32LE(o);
  assert.deepEqual([u32(0), u32(4), u32(8), u32(12)], [2, 2, 16, 0]);
  assert.deepEqual([sec.readUInt16LE(16), sec.readUInt16LE(18), sec.readUInt16LE(20), sec.readUInt16LE(22)], [0, 6, 4, 4]);
  assert.deepEqual([u32(24), u32(28), u32(32), u32(36)], [16, 0o100644, 0, 0]);
  assert.equal(parseBff(img).volume!.numwds, 0x7fffffff);
});

/** The same archive as the lab wrote it before: ACL/PCL sizes 0 and no ACL or PCL after each name. */
function withoutSecurityBlocks(img: Buffer): Buffer {
  const parts: Buffer[] = [img.subarray(0, 72)];
  let off = 72;
  while (img[off + 1] === FS_NAME_X) {
    const len = img[off]! * 8;
    const size = img.readUInt32LE(off + 24);
    parts.push(img.subarray(off, off + len), Buffer.alloc(8));
    off += len + 40;
    parts.push(img.subarray(off, off + size + pad8(size)));
    off += size + pad8(size);
  }
  const body = Buffer.concat([...parts, img.subarray(off, off + 8)]);
  return Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

test('lsmksysb and restore refuse entries without their ACL/PCL block, or with sizes that do not match it', async () => {
  await ok(lab, 'aix01', `mkdir -p ${W} && mksysb -i ${W}/good.img`);
  const root = lab.host('aix01').root;
  const good = fs.readFileSync(path.join(root, W, 'good.img'));
  await ok(lab, 'aix01', `lsmksysb -V -f ${W}/good.img && restore -Tvf ${W}/good.img`);

  fs.writeFileSync(path.join(root, W, 'old.img'), withoutSecurityBlocks(good));
  const first = good.subarray(72 + 64, 72 + good[72]! * 8).toString('latin1').replace(/\0.*$/s, '');
  for (const cmd of [`lsmksysb -V -f ${W}/old.img`, `lsmksysb -f ${W}/old.img`, `restore -Tvf ${W}/old.img`]) {
    const r = await lab.exec('aix01', cmd);
    assert.notEqual(r.code, 0, `${cmd} fails`);
    assert.match(r.stderr, /restore: 0511-119 There is a missing header block\./, cmd);
    assert.ok(r.stderr.includes(`is damaged: ${first} (byte 72): ACL/PCL sizes 0 and 0 dwords`), `${cmd}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /files verified|The number of archived files/, cmd);
  }

  // Sizes that are there but do not describe the ACL that follows (3 dwords for a 16-byte ACL).
  const bad = Buffer.from(good);
  bad.writeUInt32LE(3, 72 + good[72]! * 8);
  fs.writeFileSync(path.join(root, W, 'mismatch.img'), bad);
  const r = await lab.exec('aix01', `restore -Tvf ${W}/mismatch.img`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /damaged: .*ACL of 16 bytes in 3 dwords/);

  // A header checksum that does not match is damage too.
  const sum = Buffer.from(good);
  sum[72 + 64] = sum[72 + 64]! ^ 0xff;
  fs.writeFileSync(path.join(root, W, 'sum.img'), sum);
  const s = await lab.exec('aix01', `lsmksysb -V -f ${W}/sum.img`);
  assert.notEqual(s.code, 0);
  assert.match(s.stderr, /0511-119 There is a missing header block\.[^]*damaged: bad header checksum at byte 72/);
});
