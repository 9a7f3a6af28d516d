import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DUMMY_TOC_TEXT,
  RECORDS,
  STAGED_RECORDS,
  assertBlockSize,
  blockSizeFor,
  dummyTocBytes,
  paddedLength,
  record,
  stagedPath,
  stagingDir,
  syncFor,
  tapeBytes,
} from '../../src/tape/layout';

test('the four records as the procedure writes them', () => {
  assert.deepEqual(
    RECORDS.map((r) => [r.number, r.name, r.stagedFile, r.fixedBlockSize, r.sync]),
    [
      [1, 'boot image', '1_bosboot.img', 512, true],
      [2, 'install image', '2_mkinsttape.img', 512, false],
      [3, 'dummy TOC', null, 512, true],
      [4, 'mksysb image', '4_mksysb.img', null, false],
    ],
  );
  assert.deepEqual(STAGED_RECORDS.map((r) => r.number), [1, 2, 4]);
  assert.throws(() => record(0));
  assert.throws(() => record(5));
});

test('dummy TOC: "Dummy tape TOC\\n" padded with NULs to 512 bytes', () => {
  const b = dummyTocBytes();
  assert.equal(b.length, 512);
  assert.equal(Buffer.from(b.subarray(0, 15)).toString('latin1'), 'Dummy tape TOC\n');
  assert.equal(DUMMY_TOC_TEXT.length, 15);
  assert.ok(b.subarray(15).every((x) => x === 0));
});

test('paddedLength rounds up to whole blocks', () => {
  assert.equal(paddedLength(0, 512), 0);
  assert.equal(paddedLength(1, 512), 512);
  assert.equal(paddedLength(512, 512), 512);
  assert.equal(paddedLength(513, 512), 1024);
  assert.equal(paddedLength(5 * 2 ** 40 + 1, 262144), 5 * 2 ** 40 + 262144);
  assert.throws(() => paddedLength(-1, 512));
  assert.throws(() => paddedLength(1.5, 512));
});

test('tapeBytes: records 1 and 3 padded; 2 and 4 must be whole blocks', () => {
  assert.deepEqual(tapeBytes(1, 1000, 512), { ok: true, bytes: 1024, padding: 24 });
  assert.deepEqual(tapeBytes(1, 1024, 512), { ok: true, bytes: 1024, padding: 0 });
  assert.deepEqual(tapeBytes(3, 0, 512), { ok: true, bytes: 512, padding: 497 });
  assert.deepEqual(tapeBytes(2, 51200, 512), { ok: true, bytes: 51200, padding: 0 });
  const bad2 = tapeBytes(2, 51201, 512);
  assert.equal(bad2.ok, false);
  assert.match(bad2.ok ? '' : bad2.error, /record 2 .*51201.*multiple of the block size 512/);
  assert.deepEqual(tapeBytes(4, 262144 * 3, 262144), { ok: true, bytes: 786432, padding: 0 });
  // above 512, record 4 is padded to its block (conv=sync), like the lead's capacity rule
  assert.deepEqual(tapeBytes(4, 512 * 3, 262144), { ok: true, bytes: 262144, padding: 262144 - 1536 });
  assert.equal(tapeBytes(4, 513, 512).ok, false, 'a 512-byte record 4 must be whole blocks');
  assert.equal(tapeBytes(1, 1000, 1024).ok, false, 'record 1 only at 512');
  assert.equal(tapeBytes(4, 0, 512).ok, false, 'empty image');
  assert.throws(() => tapeBytes(4, 512, 1000), /multiple of 512/);
});

test('conv=sync per record: 1 and 3 always, 2 never, 4 only above 512', () => {
  assert.deepEqual([1, 2, 3].map((k) => syncFor(k as 1 | 2 | 3, 512)), [true, false, true]);
  assert.equal(syncFor(4, 512), false);
  assert.equal(syncFor(4, 1024), true);
});

test('block sizes', () => {
  assert.equal(blockSizeFor(1, 262144), 512);
  assert.equal(blockSizeFor(3, 262144), 512);
  assert.equal(blockSizeFor(4), 512);
  assert.equal(blockSizeFor(4, 262144), 262144);
  assert.throws(() => assertBlockSize(0));
  assert.throws(() => assertBlockSize(1000));
  assert.throws(() => assertBlockSize(32 * 1024 * 1024));
});

test('staging paths', () => {
  assert.equal(stagingDir('/work/mksysb', 'aix01-2026-11-27'), '/work/mksysb/aix01-2026-11-27');
  assert.equal(stagedPath('/w/b', 4), '/w/b/4_mksysb.img');
  assert.equal(stagedPath('/w/b', 1), '/w/b/1_bosboot.img');
  assert.throws(() => stagedPath('/w/b', 3));
  assert.throws(() => stagingDir('/work', '../etc'));
  assert.throws(() => stagingDir('/work', 'a/b'));
  assert.throws(() => stagingDir('relative', 'b'));
  assert.throws(() => stagingDir('/work', 'x\ny'));
});
