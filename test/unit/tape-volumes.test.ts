/**
 * src/tape/volumes.ts: the plan of a multi-volume set, the continuation header (its checksum computed here from
 * AIX-TAPE.md's rule, not with the module's own function), and its command lines run under the Korn shells and dash
 * against real files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planTape } from '../../src/tape/layout';
import {
  byteRange,
  continuationHeader,
  endOfMediumIsResult,
  expectedVolumeSha,
  lastBlockPadding,
  measureAtPosition,
  parseCount,
  parseHexDump,
  parseReachedEnd,
  planVolumes,
  reachedEnd,
  readVolumeHeader,
  VOLUME_HEADER_BYTES,
} from '../../src/tape/volumes';
import { parseSha256WithStatus } from '../../src/tape/digest';

const SHELLS = ['lksh', 'dash', 'ksh93'].filter((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0);

function run(shell: string, script: string): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(shell, ['-c', script], { maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** The checksum as AIX-TAPE.md states it: with the field zeroed, the sum of c << (c & 7) over every byte, 16 bits. */
function aixChecksum(h: Uint8Array): number {
  let sum = 0;
  h.forEach((c, i) => {
    const b = i === 4 || i === 5 ? 0 : c;
    sum += b << (b & 7);
  });
  return sum & 0xffff;
}

/** A volume header as backup writes one: 09 00 6B EA, checksum, volnum 1, dates, numwds 0x7FFFFFFF, names, incno 100. */
function firstHeader(): Uint8Array {
  const h = new Uint8Array(72);
  const dv = new DataView(h.buffer);
  h[0] = 9;
  h[1] = 0;
  dv.setUint16(2, 0xea6b, true);
  dv.setUint16(6, 1, true);
  dv.setUint32(8, 1764633600, true);
  dv.setUint32(12, 1764633600, true);
  dv.setUint32(16, 0x7fffffff, true);
  h.set(Buffer.from('rootvg'), 20);
  h.set(Buffer.from('by name'), 36);
  h.set(Buffer.from('root'), 52);
  dv.setUint32(68, 100, true);
  dv.setUint16(4, aixChecksum(h), true);
  return h;
}

test('continuationHeader sets volnum and a checksum that follows the AIX rule, leaving every other byte', () => {
  const first = firstHeader();
  for (const n of [2, 3, 17, 300]) {
    const h = continuationHeader(first, n);
    const dv = new DataView(h.buffer, h.byteOffset);
    assert.equal(h.length, VOLUME_HEADER_BYTES);
    assert.equal(dv.getUint16(6, true), n);
    assert.equal(dv.getUint16(4, true), aixChecksum(h));
    for (let i = 0; i < 72; i++) if (i < 4 || i > 7) assert.equal(h[i], first[i], `byte ${i}`);
  }
  assert.throws(() => continuationHeader(Uint8Array.from(first.subarray(0, 40)), 2), /72 bytes/);
  const bad = Uint8Array.from(first);
  bad[10] = bad[10]! ^ 1;
  assert.throws(() => continuationHeader(bad, 2), /bad checksum/);
  const notBff = Uint8Array.from(first);
  notBff[2] = 0;
  assert.throws(() => continuationHeader(notBff, 2), /volume header/);
});

test('planVolumes: volume 1 takes records 1-3 and what fits of record 4; each further volume its header and the rest', () => {
  const tape = planTape({ 1: 10 * 512, 2: 20 * 512, 4: 1000 * 512 }, 512, '/stage/b');
  assert.deepEqual(planVolumes(tape, undefined), { needed: 1, volumes: [{ volume: 1, from: 0, bytes: 1000 * 512 }] });
  assert.equal(planVolumes(tape, tape.totalBytes).needed, 1);
  const cap = 400 * 512;
  const p = planVolumes(tape, cap);
  const first = cap - (tape.totalBytes - 1000 * 512);
  assert.equal(p.volumes[0]!.bytes, first);
  const per = cap - 2 * 512 - 72;
  assert.deepEqual(
    p.volumes.map((v) => v.from),
    [0, first, first + per, first + 2 * per].filter((f) => f < 1000 * 512),
  );
  assert.equal(p.volumes.reduce((n, v) => n + v.bytes, 0), 1000 * 512);
  assert.equal(p.needed, p.volumes.length);
  assert.equal(planVolumes(tape, 30 * 512).needed, Infinity, 'records 1-3 alone do not fit');
});

for (const shell of SHELLS) {
  test(`byteRange and expectedVolumeSha under ${shell}: any dword-aligned range of a file, header and padding`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'volumes-'));
    try {
      const img = join(dir, '4_mksysb.img');
      const data = randomBytes(300_000 - (300_000 % 8));
      writeFileSync(img, data);
      const cases: Array<[number, number | null]> = [
        [0, 8],
        [0, 65536],
        [512, 131072 - 72],
        [131072 - 72, 70_000 - 8],
        [8, data.length - 16],
        [200_000, null],
        [0, null],
        [65536, 0],
      ];
      for (const [from, length] of cases) {
        const r = run(shell, byteRange(img, from, length));
        assert.equal(r.code, 0, r.stderr);
        const want = data.subarray(from, length === null ? undefined : from + length);
        assert.ok(r.stdout.equals(want), `${from}+${length}: ${r.stdout.length} bytes, want ${want.length}`);
      }
      const hdr = join(dir, 'vol2.hdr');
      const header = Buffer.alloc(72, 7);
      writeFileSync(hdr, header);
      const pad = lastBlockPadding(72 + data.length - 4096, 512);
      const r = run(shell, expectedVolumeSha('linux', { volume: 2, image: img, header: hdr, from: 4096, length: null, padding: pad }));
      const sha = parseSha256WithStatus(r.stdout.toString());
      const want = createHash('sha256').update(header).update(data.subarray(4096)).update(Buffer.alloc(pad)).digest('hex');
      assert.equal(sha.ok, true, r.stderr);
      assert.equal(sha.sha256, want);
      assert.equal((72 + data.length - 4096 + pad) % 512, 0);
      const dump = run(shell, readVolumeHeader(hdr));
      assert.deepEqual(Buffer.from(parseHexDump(dump.stdout.toString())), header);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`measureAtPosition under ${shell}: one read gives the byte count and the SHA-256, and a failed read says so`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'volumes-'));
    try {
      const vol = join(dir, 'volume');
      const data = randomBytes(3 * 262144 + 5 * 512);
      writeFileSync(vol, data);
      const r = run(shell, measureAtPosition('linux', vol, 512, join(dir, '.readback')));
      const sha = parseSha256WithStatus(r.stdout.toString());
      assert.equal(sha.ok, true, r.stderr);
      assert.equal(sha.sha256, createHash('sha256').update(data).digest('hex'));
      assert.equal(parseCount(r.stdout.toString()), data.length);
      assert.equal(existsSync(join(dir, '.readback')), false, 'the FIFO is removed');
      const gone = run(shell, measureAtPosition('linux', join(dir, 'absent'), 512, join(dir, '.readback')));
      assert.equal(parseSha256WithStatus(gone.stdout.toString()).ok, false);
      assert.equal(parseCount(gone.stdout.toString()), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`endOfMediumIsResult under ${shell}: ENXIO or ENOSPC from dd is a result, other failures keep their status`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'volumes-'));
    try {
      const eom = join(dir, 'w.eom');
      const fail = (msg: string, code: number) => `echo 'dd: ${msg}' >&2; exit ${code}`;
      const enxio = run(shell, endOfMediumIsResult(`(${fail('0511-053 The write failed.: No such device or address', 2)})`, eom));
      assert.equal(enxio.code, 0);
      assert.match(enxio.stderr, /No such device or address/, "dd's message still reaches the output");
      assert.equal(parseReachedEnd(run(shell, reachedEnd(eom)).stdout.toString()), true);
      const aixWords = run(shell, endOfMediumIsResult(`(${fail('/dev/rmt0.1: There is a request to a device or address that does not exist.', 2)})`, eom));
      assert.equal(aixWords.code, 0, 'AIX words ENXIO its own way');
      const enospc = run(shell, endOfMediumIsResult(`(${fail("error writing '/dev/nst0': No space left on device", 1)})`, eom));
      assert.equal(enospc.code, 0);
      assert.ok(existsSync(eom));
      const eio = run(shell, endOfMediumIsResult(`(${fail('0511-053 The write failed.: A system call received a parameter that is not valid. I/O error', 2)})`, eom));
      assert.equal(eio.code, 2);
      assert.equal(existsSync(eom), false, 'an earlier end of medium does not stay behind');
      assert.equal(parseReachedEnd(run(shell, reachedEnd(eom)).stdout.toString()), false);
      const ok = run(shell, endOfMediumIsResult('true', eom));
      assert.equal(ok.code, 0);
      assert.equal(existsSync(eom), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('parseCount and parseReachedEnd read their tagged lines and nothing else', () => {
  assert.equal(parseCount('banner 123\nmksysb-tape-readback said     4096\n'), 4096);
  assert.equal(parseCount('nothing'), null);
  assert.throws(() => parseReachedEnd('no answer'), /no end-of-medium answer/);
});
