/**
 * A login that prints text (a site's profile or `$ENV` file on AIX; the lab's `banner` setting, lab/banner.ts) comes
 * before every command's own output on stdout and stderr. Every parser finds the command's own answer behind it, and
 * every data stream drops it up to the data marker, under each shell a host may run the command with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BANNER_STDERR, BANNER_STDOUT } from '../../lab/banner';
import { DataMarkerMissingError, DataStart } from '../../src/ssh/relay';
import * as detached from '../../src/tape/detached';
import { parseSha256, parseSha256WithStatus, sha256File, sha256FilePadded } from '../../src/tape/digest';
import { parseCartridgeStart } from '../../src/tape/drivers';
import { fileSize, fileSizeOrAbsent, parseDf, parseSize, parseSizeOrAbsent } from '../../src/tape/images';
import { parsePipeStatus, pipeWithStatus } from '../../src/tape/shell';
import { DATA_MARKER, NO_DATA_STATUS, parsePull, parseSurvey, pull, readFrom, survey, writeFrom, writeHashing, type PullSource } from '../../src/tape/transfer';

const SHELLS = ['dash', 'lksh', 'ksh93'];
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** What a talking login prints before the command, as the lab's banner host does. */
const LOGIN = `printf '%s' ${q(BANNER_STDOUT)}; printf '%s' ${q(BANNER_STDERR)} >&2; `;

function run(shell: string, script: string, input?: Buffer, env?: NodeJS.ProcessEnv): { code: number | null; stdout: Buffer; out: string; err: string } {
  const r = spawnSync(shell, ['-c', script], { input, maxBuffer: 64 * 1024 * 1024, env });
  return { code: r.status, stdout: r.stdout, out: r.stdout.toString(), err: r.stderr.toString() };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'banner-'));
}

test('the banner is an adversary: it holds look-alikes of what the parsers read', () => {
  assert.match(BANNER_STDOUT, /^\d+$/m, 'a bare number');
  assert.match(BANNER_STDOUT, /^SHA256\(.*\)= [0-9a-f]{64}$/m, 'a digest line');
  assert.match(BANNER_STDOUT, new RegExp(`^${DATA_MARKER}\\S`, 'm'), 'the data marker with a suffix');
  assert.ok(!BANNER_STDERR.endsWith('\n'), 'stderr ends without a newline');
  // Parsers that took the first match would read the banner's values.
  assert.equal(parseSha256(BANNER_STDOUT), '0123456789abcdef'.repeat(4));
});

test('tagged and untagged answers are found behind the banner, under every shell', () => {
  const dir = tmp();
  try {
    const file = join(dir, 'img file');
    const data = randomBytes(70000);
    writeFileSync(file, data);
    const sha = createHash('sha256').update(data).digest('hex');
    for (const sh of SHELLS) {
      const at = (cmd: string) => run(sh, LOGIN + cmd);
      assert.equal(parseSize(at(fileSize(file)).out), data.length, sh);
      assert.equal(parseSizeOrAbsent(at(fileSizeOrAbsent(file)).out), data.length, sh);
      assert.equal(parseSizeOrAbsent(at(fileSizeOrAbsent(join(dir, 'none'))).out), null, sh);
      assert.equal(parseSha256(at(sha256File('aix', file)).out), sha, sh);
      const padded = parseSha256WithStatus(at(sha256FilePadded('aix', file, 0)).out);
      assert.deepEqual(padded, { ok: true, status: 0, sha256: sha }, sh);
      assert.deepEqual(parsePipeStatus(at(pipeWithStatus('false', 'cat >/dev/null')).out).status, 1, sh);
      // Detached state lines and the tagged answer of anySucceeded.
      assert.deepEqual(detached.parseState(at(detached.poll(dir, 'none')).out), { state: 'absent' }, sh);
      assert.equal(detached.parseAnySucceeded(at(detached.anySucceeded(dir, 'write-r1-')).out), false, sh);
      writeFileSync(join(dir, 'write-r1-x.rc'), '0\n');
      assert.equal(detached.parseAnySucceeded(at(detached.anySucceeded(dir, 'write-r1-')).out), true, sh);
      rmSync(join(dir, 'write-r1-x.rc'));
      // The survey: tagged lines, then df (whose header is found behind the banner).
      const sv = parseSurvey(at(survey(join(dir, 'stage'), file, 4)).out);
      assert.equal(sv.size, data.length, sh);
      assert.equal(sv.pull, '', sh);
      assert.ok(sv.df.freeKiB > 0, sh);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parsers given banner text, AIX formats', () => {
  const df = 'Filesystem    1024-blocks      Free %Used    Iused %Iused Mounted on\n/dev/fslv00      20971520  15728640   25%        9     1% /home/mksysb\n';
  assert.equal(parseDf(BANNER_STDOUT + df).freeKiB, 15728640);
  // readCartridgeStart: dd's status line may land anywhere; the count is wc's line, not the banner's number.
  assert.deepEqual(parseCartridgeStart(`${BANNER_STDOUT}mksysb-tape-pipe-status 0\n  262144\n`), { bytes: 262144, readStatus: 0, hasData: true });
  assert.deepEqual(parseCartridgeStart(`${BANNER_STDOUT}       0\nmksysb-tape-pipe-status 0\n`), { bytes: 0, readStatus: 0, hasData: false });
  assert.deepEqual(detached.parseState(`${BANNER_STDOUT}mksysb-tape-detached started 4242\n`), { state: 'started', pid: 4242 });
  assert.throws(() => detached.parseState(BANNER_STDOUT), /no detached-command state/);
  assert.throws(() => detached.parseAnySucceeded(BANNER_STDOUT), /no mksysb-tape-succeeded line/);
  assert.equal(parsePipeStatus(BANNER_STDOUT).status, null);
  // A pull's report: the tape host's banner and (in the same .out) the source's stderr banner from the inner ssh.
  const digest = 'b'.repeat(64);
  const out = `${BANNER_STDOUT}${BANNER_STDERR}mksysb-tape-pull ssh 0\nmksysb-tape-pipe-status 0\nSHA256(/x)= ${digest}\nmksysb-tape-pull write 0\nmksysb-tape-pull size 512\n`;
  const rep = parsePull(out);
  assert.deepEqual({ ...rep, messages: '' }, { ssh: 0, write: 0, size: 512, sha256: digest, messages: '' });
  assert.deepEqual(parsePull(BANNER_STDOUT), { ssh: null, write: null, size: null, sha256: null, messages: parsePull(BANNER_STDOUT).messages });
});

async function strip(chunks: Buffer[]): Promise<{ data: Buffer; bytes: number }> {
  const start = new DataStart(DATA_MARKER);
  const got: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    start,
    new Writable({
      write(c: Buffer, _e, cb) {
        got.push(c);
        cb();
      },
    }),
  );
  return { data: Buffer.concat(got), bytes: start.bytes };
}

test('the relay drops everything up to the first marker line, however the stream is cut, and counts image bytes only', async () => {
  const image = Buffer.concat([Buffer.from(`${DATA_MARKER}\nnot a marker: image bytes\n`), randomBytes(300000)]);
  const stream = Buffer.concat([Buffer.from(BANNER_STDOUT), Buffer.from(`\n${DATA_MARKER}\n`), image]);
  for (const size of [1, 7, 4096, stream.length]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
    const r = await strip(chunks);
    assert.ok(r.data.equals(image), `chunks of ${size}`);
    assert.equal(r.bytes, image.length);
  }
  // No banner at all: the marker is the first line.
  assert.ok((await strip([Buffer.from(`\n${DATA_MARKER}\nabc`)])).data.equals(Buffer.from('abc')));
  assert.ok((await strip([Buffer.from(`${DATA_MARKER}\nabc`)])).data.equals(Buffer.from('abc')));
  // An empty image is an image when the marker came.
  assert.equal((await strip([Buffer.from(`${BANNER_STDOUT}\n${DATA_MARKER}\n`)])).bytes, 0);
  // No marker (only look-alikes): an error, not an empty image.
  await assert.rejects(strip([Buffer.from(BANNER_STDOUT)]), DataMarkerMissingError);
  await assert.rejects(strip([]), DataMarkerMissingError);
  await assert.rejects(strip([Buffer.from(`${DATA_MARKER} \nx`)]), DataMarkerMissingError);
  // A stream that never says it is data is not read to its end.
  await assert.rejects(strip([randomBytes(1 << 20), randomBytes(1 << 20)]), /first 1048576 bytes/);
});

test('the framed writers on the tape host drop the banner under dash, lksh and ksh93; no marker is an error', () => {
  const dir = tmp();
  try {
    const src = join(dir, 'src');
    const data = randomBytes((1 << 20) + 301);
    writeFileSync(src, data);
    const sha = createHash('sha256').update(data).digest('hex');
    for (const sh of SHELLS) {
      const dst = join(dir, `dst-${sh}`);
      // From byte 0 with the digest, as a direct pull's first round.
      const h = run(sh, `{ ${LOGIN}${readFrom(src, 0)}; } 2>/dev/null | ${writeHashing('aix', dst, { framed: true })}`);
      assert.equal(h.code, 0, `${sh}: ${h.err}`);
      assert.deepEqual(parseSha256WithStatus(h.out), { ok: true, status: 0, sha256: sha }, sh);
      assert.ok(readFileSync(dst).equals(data), sh);
      // Resumed at an offset, after a torn tail.
      writeFileSync(dst, Buffer.concat([data.subarray(0, 500000), randomBytes(999)]));
      const r = run(sh, `{ ${LOGIN}${readFrom(src, 500000)}; } 2>/dev/null | ( ${writeFrom(dst, 500000, { framed: true })} )`);
      assert.equal(r.code, 0, `${sh}: ${r.err}`);
      assert.ok(readFileSync(dst).equals(data), `${sh}: resumed`);
      // Only a banner, no marker: exit status NO_DATA_STATUS and the copy untouched (not emptied, not cut).
      for (const w of [writeFrom(dst, 0, { framed: true }), writeFrom(dst, 500000, { framed: true }), writeHashing('aix', dst, { framed: true })]) {
        const bad = run(sh, `{ ${LOGIN}} 2>/dev/null | ( ${w} )`);
        assert.equal(bad.code, NO_DATA_STATUS, `${sh}: ${w}`);
        assert.match(bad.err, /no mksysb-tape-data line/);
        assert.ok(readFileSync(dst).equals(data), `${sh}: untouched`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a direct pull from a source whose login talks: the image's bytes only, its size and SHA-256, under every shell", () => {
  const dir = tmp();
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // The source's login prints the banner into the pulled stream and on ssh's stderr, then runs the command.
    writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nfor a; do last=$a; done\n${LOGIN}\nexec /bin/sh -c "$last"\n`);
    chmodSync(join(bin, 'ssh'), 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const SRC: PullSource = { address: '10.0.0.5', port: 22, user: 'root', identityFile: '/root/.ssh/id', knownHostsFile: '/tmp/kh' };
    const src = join(dir, 'src');
    const data = randomBytes(2 << 20);
    writeFileSync(src, data);
    const sha = createHash('sha256').update(data).digest('hex');
    for (const sh of SHELLS) {
      const dst = join(dir, `dst-${sh}`);
      const r = run(sh, LOGIN + pull('aix', SRC, src, 0, dst, { hash: true }), undefined, env);
      const rep = parsePull(r.out + r.err);
      assert.deepEqual({ ...rep, messages: '' }, { ssh: 0, write: 0, size: data.length, sha256: sha, messages: '' }, sh);
      assert.ok(readFileSync(dst).equals(data), sh);
      writeFileSync(dst, data.subarray(0, 123457));
      const res = parsePull(run(sh, LOGIN + pull('aix', SRC, src, 123457, dst), undefined, env).out);
      assert.deepEqual([res.ssh, res.write, res.size], [0, 0, data.length], sh);
      assert.ok(readFileSync(dst).equals(data), `${sh}: resumed`);
      // A source that printed its banner and nothing else (not our read): the writer's error, nothing written.
      rmSync(dst);
      writeFileSync(join(bin, 'ssh'), `#!/bin/sh\n${LOGIN}\nexit 0\n`);
      const none = parsePull(run(sh, pull('aix', SRC, src, 0, dst, { hash: true }), undefined, env).out);
      assert.deepEqual([none.ssh, none.write, none.size], [0, NO_DATA_STATUS, null], sh);
      assert.ok(!existsSync(dst));
      writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nfor a; do last=$a; done\n${LOGIN}\nexec /bin/sh -c "$last"\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
