import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFrom, SHORT_FILE_STATUS, writeFrom, writeHashing } from '../../src/tape/transfer';
import { parseSha256WithStatus } from '../../src/tape/digest';
import { createHash } from 'node:crypto';

function sh(script: string, input?: Buffer): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script], { input, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

test('readFrom streams from a byte offset (tail -c +N counts from 1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const src = join(dir, "src 'img'");
    const data = randomBytes(100000);
    writeFileSync(src, data);
    assert.equal(readFrom(src, 0), `cat '${src.replace(/'/g, `'\\''`)}'`);
    for (const off of [0, 1, 511, 512, 65536, 99999, 100000]) {
      const r = sh(readFrom(src, off));
      assert.equal(r.code, 0);
      assert.ok(r.stdout.equals(data.subarray(off)), `offset ${off}`);
    }
    assert.throws(() => readFrom(src, -1));
    assert.throws(() => readFrom('rel', 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFrom resumes at an offset: cuts what follows, appends; refuses an offset past the end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const dst = join(dir, 'dst $(x).img');
    const data = randomBytes(300000);
    // first attempt: 120000 bytes arrived, the last 20000 of them garbage from a torn write
    assert.equal(sh(writeFrom(dst, 0), Buffer.concat([data.subarray(0, 100000), randomBytes(20000)])).code, 0);
    // resume at the last heartbeated offset
    const r = sh(writeFrom(dst, 100000), data.subarray(100000));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(dst).equals(data));
    // resume at exactly the end adds nothing wrong
    assert.equal(sh(writeFrom(dst, 300000), Buffer.alloc(0)).code, 0);
    assert.ok(readFileSync(dst).equals(data));
    // an offset past the end would leave a hole: refused, file untouched
    const bad = sh(writeFrom(dst, 400000), Buffer.from('x'));
    assert.equal(bad.code, SHORT_FILE_STATUS);
    assert.match(bad.stderr, /fewer than the offset 400000/);
    assert.ok(readFileSync(dst).equals(data));
    // a missing file with offset > 0 is refused too
    assert.equal(sh(writeFrom(join(dir, 'none'), 10), Buffer.from('x')).code, SHORT_FILE_STATUS);
    // offset 0 replaces the file
    writeFileSync(dst, 'old content that is longer');
    assert.equal(sh(writeFrom(dst, 0), Buffer.from('new')).code, 0);
    assert.equal(readFileSync(dst, 'utf8'), 'new');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readFrom | writeFrom round trip over a resumed transfer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const src = join(dir, 'a');
    const dst = join(dir, 'b');
    const data = randomBytes(1 << 20);
    writeFileSync(src, data);
    writeFileSync(dst, data.subarray(0, 777777));
    assert.equal(sh(`${readFrom(src, 777777)} | { ${writeFrom(dst, 777777)}; }`).code, 0);
    assert.ok(readFileSync(dst).equals(data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeHashing writes stdin to the file and prints the SHA-256 of exactly those bytes, with tee\'s status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const dst = join(dir, 'it is b');
    const data = randomBytes(3 << 20);
    writeFileSync(dst, 'old content, longer than nothing');
    for (const os of ['aix', 'linux'] as const) {
      const r = sh(writeHashing(os, dst), data);
      assert.equal(r.code, 0, r.stderr);
      const parsed = parseSha256WithStatus(r.stdout.toString());
      assert.deepEqual(parsed, { ok: true, status: 0, sha256: createHash('sha256').update(data).digest('hex') });
      assert.ok(readFileSync(dst).equals(data));
    }
    // A file that cannot be written: tee's failure shows in the status, whatever the digest of the stream.
    const r = sh(writeHashing('linux', join(dir, 'no such dir', 'x')), data);
    const parsed = parseSha256WithStatus(r.stdout.toString());
    assert.equal(parsed.ok, false);
    assert.notEqual(parsed.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
