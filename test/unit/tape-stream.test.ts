/**
 * src/tape/stream.ts under the Korn shells and dash, against a file that grows while it is read: the feed sends every
 * byte once, in order, waits for bytes that do not exist yet, ends only after the seal; the record-4 stream pads to
 * the block after the image and keeps the SHA-256 of the image's bytes; a read that fails fails the write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TapeDriver } from '../../src/tape/drivers';
import { parseSha256 } from '../../src/tape/digest';
import { feedGrowingCopy, parseSealedBytes, readDigest, sealStream, streamFiles, streamRecord4, STREAM_CHUNK } from '../../src/tape/stream';

const SHELLS = ['lksh', 'dash', 'ksh93'].filter((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0);

function runAsync(shell: string, script: string): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(shell, ['-c', script]);
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes `data` to `file` in pieces while the stream runs (the file created late), then seals it. */
async function grow(file: string, data: Buffer, seal: () => void, piece = 700_000): Promise<void> {
  await sleep(300);
  writeFileSync(file, Buffer.alloc(0));
  for (let at = 0; at < data.length; at += piece) {
    appendFileSync(file, data.subarray(at, at + piece));
    await sleep(150);
  }
  seal();
}

/** A drive that is a regular file: block size and positioning are the lab's business, not this test's. */
function fileDrive(out: string): TapeDriver {
  return { noRewindDevice: () => out, setBlockSize: () => [], positionForRecord: () => [] } as unknown as TapeDriver;
}

for (const shell of SHELLS) {
  test(`feedGrowingCopy under ${shell}: every byte of a growing file once, in order, ending only after the seal`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stream-'));
    try {
      const f = streamFiles(dir, join(dir, '4_mksysb.img'), 'stream-r4-t');
      // Not a whole number of chunks, so the last bytes come only with the seal.
      const data = randomBytes(3 * STREAM_CHUNK + 4608);
      const feeding = runAsync(shell, feedGrowingCopy(f));
      let sealedAt = 0;
      await grow(f.copy, data, () => {
        sealedAt = Date.now();
        writeFileSync(f.seal, `${data.length} 0\n`);
      });
      const r = await feeding;
      assert.equal(r.code, 0, r.stderr);
      assert.ok(Date.now() >= sealedAt);
      assert.equal(r.stdout.length, data.length);
      assert.ok(r.stdout.equals(data), 'the bytes in order, none twice');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`streamRecord4 under ${shell}: the image re-blocked and padded to the block, its SHA-256 kept; a failed read fails the write`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stream-'));
    try {
      const f = streamFiles(dir, join(dir, '4_mksysb.img'), 'stream-r4-t');
      const out = join(dir, 'drive');
      const bs = 65536;
      const data = randomBytes(2 * STREAM_CHUNK + 512 * 7);
      const padding = Math.ceil(data.length / bs) * bs - data.length;
      const writing = runAsync(shell, streamRecord4('linux', fileDrive(out), 'nst0', bs, f));
      await grow(f.copy, data, () => spawnSync(shell, ['-c', sealStream(f, data.length, padding)]));
      const r = await writing;
      assert.equal(r.code, 0, r.stderr);
      const onTape = readFileSync(out);
      assert.equal(onTape.length % bs, 0, 'whole blocks');
      assert.ok(onTape.equals(Buffer.concat([data, Buffer.alloc(padding)])), 'the image, then NULs to the block');
      assert.equal(readFileSync(f.digest, 'utf8').trim().split(/\s+/)[0], sha(data), 'the SHA-256 of the image bytes sent');
      const said = spawnSync(shell, ['-c', readDigest(f)], { encoding: 'utf8' });
      assert.equal(parseSha256(said.stdout), sha(data), said.stderr);
      assert.equal(parseSealedBytes(said.stdout), data.length, 'the image size the seal named');
      assert.equal(existsSync(f.work), false, 'scratch removed');

      // The copy cannot be read (a directory in its place): the write fails and leaves no digest.
      const g = streamFiles(dir, join(dir, 'not-a-file'), 'stream-r4-u');
      mkdirSync(g.copy);
      writeFileSync(g.seal, '1024 0\n');
      const bad = await runAsync(shell, streamRecord4('linux', fileDrive(join(dir, 'drive2')), 'nst0', 512, g));
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /reading .*not-a-file failed/);
      assert.equal(existsSync(g.digest), false);
      const none = spawnSync(shell, ['-c', readDigest(streamFiles(dir, g.copy, 'stream-r4-never'))], { encoding: 'utf8' });
      assert.equal(parseSealedBytes(none.stdout), undefined, 'no seal, no size');
      assert.throws(() => parseSha256(none.stdout));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
