import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  currentPull,
  DATA_MARKER,
  knownHostsLine,
  NO_DATA_STATUS,
  markPull,
  parsePull,
  parsePullName,
  parseSurvey,
  pull,
  pullName,
  readFrom,
  SHORT_FILE_STATUS,
  sshCommand,
  survey,
  unmarkPull,
  writeFrom,
  writeHashing,
  parseWritten,
  writeKnownHosts,
  type PullSource,
} from '../../src/tape/transfer';
import { createHash } from 'node:crypto';

function sh(script: string, input?: Buffer, env?: NodeJS.ProcessEnv): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script], { input, maxBuffer: 64 * 1024 * 1024, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

test('readFrom streams from a byte offset (tail -c +N counts from 1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const src = join(dir, "src 'img'");
    const data = randomBytes(100000);
    writeFileSync(src, data);
    assert.equal(readFrom(src, 0), `{ echo; echo ${DATA_MARKER}; exec cat '${src.replace(/'/g, `'\\''`)}'; }`);
    for (const off of [0, 1, 511, 512, 65536, 99999, 100000]) {
      const r = sh(readFrom(src, off));
      assert.equal(r.code, 0);
      // An empty line and the marker come first: readers drop a login banner up to there.
      assert.ok(r.stdout.equals(Buffer.concat([Buffer.from(`\n${DATA_MARKER}\n`), data.subarray(off)])), `offset ${off}`);
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
    assert.equal(sh(`${readFrom(src, 777777)} | ( ${writeFrom(dst, 777777, { framed: true })} )`).code, 0);
    assert.ok(readFileSync(dst).equals(data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeHashing writes stdin to the file and prints the SHA-256 of exactly those bytes, with the write\'s status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const dst = join(dir, 'it is b');
    const data = randomBytes(3 << 20);
    writeFileSync(dst, 'old content, longer than nothing');
    for (const os of ['aix', 'linux'] as const) {
      const r = sh(writeHashing(os, dst), data);
      assert.equal(r.code, 0, r.stderr);
      // The size comes with the digest, from the file as written (the old content is replaced, not appended to).
      const parsed = parseWritten(r.stdout.toString());
      assert.deepEqual(parsed, { status: 0, copy: { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length } });
      assert.ok(readFileSync(dst).equals(data));
    }
    // A file that cannot be written: the failure shows in the status, and no digest is given.
    const r = sh(writeHashing('linux', join(dir, 'no such dir', 'x')), data);
    const parsed = parseWritten(r.stdout.toString());
    assert.notEqual(parsed.status, 0);
    assert.equal(parsed.copy, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnddLgXB3hsSbMzFNOr4moMSjpgUr+cN1Al';

const SRC: PullSource = {
  address: '10.0.0.5',
  port: 2222,
  user: 'root',
  identityFile: '/home/mksysb/.ssh/id_pull',
  knownHostsFile: '/home/mksysb/b1/pull-known_hosts',
};

test("knownHostsLine pins the source's key under the name and port the tape host uses", () => {
  assert.equal(knownHostsLine('10.0.0.5', 22, ED25519), `10.0.0.5 ${ED25519}`);
  assert.equal(knownHostsLine('aix01.example.com', 2222, ED25519), `[aix01.example.com]:2222 ${ED25519}`);
  assert.equal(knownHostsLine('::1', 40101, ED25519), `[::1]:40101 ${ED25519}`);
  assert.throws(() => knownHostsLine('-oProxyCommand=x', 22, ED25519), /address/);
  assert.throws(() => knownHostsLine('a b', 22, ED25519), /address/);
  assert.throws(() => knownHostsLine('10.0.0.5', 0, ED25519), /port/);
  assert.throws(() => knownHostsLine('10.0.0.5', 22, `${ED25519}\n* ssh-rsa AAAA`), /host key/);
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const file = join(dir, 'known_hosts');
    writeFileSync(file, 'old line\n');
    assert.equal(sh(writeKnownHosts(file, knownHostsLine('10.0.0.5', 2222, ED25519))).code, 0);
    assert.equal(readFileSync(file, 'utf8'), `[10.0.0.5]:2222 ${ED25519}\n`);
    assert.throws(() => writeKnownHosts(join(dir, 'a b'), 'x'), /known_hosts file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sshCommand: no config files, batch mode, only the pinned key file and the given identity, the project's ciphers", () => {
  assert.equal(
    sshCommand(SRC, readFrom('/home/mksysb/b1/4_mksysb.img', 0)),
    'ssh -n -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/home/mksysb/b1/pull-known_hosts ' +
      '-o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no -o CheckHostIP=no -o IdentitiesOnly=yes -i /home/mksysb/.ssh/id_pull -o LogLevel=ERROR -o ConnectTimeout=30 ' +
      '-o ServerAliveInterval=15 -o ServerAliveCountMax=4 -c aes128-gcm@openssh.com,aes128-ctr -p 2222 root@10.0.0.5 ' +
      "'{ echo; echo mksysb-tape-data; exec cat /home/mksysb/b1/4_mksysb.img; }'",
  );
  // ssh splits -o values at white space and expands % and ~ in -i: such paths are refused, not quoted.
  assert.throws(() => sshCommand({ ...SRC, knownHostsFile: '/tmp/a b' }, 'cat /x'), /known_hosts file/);
  assert.throws(() => sshCommand({ ...SRC, identityFile: '/root/%u/id' }, 'cat /x'), /identity file/);
  assert.throws(() => sshCommand({ ...SRC, identityFile: '.ssh/id' }, 'cat /x'), /absolute/);
  assert.throws(() => sshCommand({ ...SRC, user: '-oProxyCommand=x' }, 'cat /x'), /user/);
  assert.throws(() => sshCommand({ ...SRC, address: '-oProxyCommand=x' }, 'cat /x'), /address/);
  assert.throws(() => sshCommand({ ...SRC, port: 70000 }, 'cat /x'), /port/);
});

/**
 * A stand-in for ssh(1) on PATH: records its arguments, runs the last one with /bin/sh (the source's shell); with
 * FAKE_SSH=refuse it fails as ssh does when it cannot log in, with FAKE_SSH=drop:N it passes N bytes, then fails so.
 */
function fakeSsh(dir: string, mode = ''): NodeJS.ProcessEnv {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'ssh'),
    [
      '#!/bin/sh',
      `printf '%s\\n' "$@" > '${dir}/ssh-args'`,
      'for a; do last=$a; done',
      'case "$FAKE_SSH" in',
      'refuse) echo "root@10.0.0.5: Permission denied (publickey)." >&2; exit 255;;',
      'drop:*) /bin/sh -c "$last" | head -c "${FAKE_SSH#drop:}"; echo "Connection to 10.0.0.5 closed by remote host." >&2; exit 255;;',
      'esac',
      'exec /bin/sh -c "$last"',
      '',
    ].join('\n'),
  );
  chmodSync(join(bin, 'ssh'), 0o755);
  return { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_SSH: mode };
}

test("pull from byte 0 writes the file and reports ssh's and the writer's status, the size and the SHA-256 of the bytes written", () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const env = fakeSsh(dir);
    const src = join(dir, "src 'img'");
    const dst = join(dir, 'dst img');
    const data = randomBytes(2 << 20);
    writeFileSync(src, data);
    const sha = createHash('sha256').update(data).digest('hex');
    for (const os of ['aix', 'linux'] as const) {
      const r = sh(pull(os, SRC, src, 0, dst, { hash: true }), undefined, env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(parsePull(r.stdout.toString() + r.stderr), { ssh: 0, write: 0, size: data.length, sha256: sha, messages: '' });
      assert.ok(readFileSync(dst).equals(data));
    }
    // What ssh was given: the options of sshCommand, the remote read last, as one word for the source's shell.
    const args = readFileSync(join(dir, 'ssh-args'), 'utf8').split('\n').slice(0, -1);
    assert.equal(args[args.length - 1], readFrom(src, 0));
    assert.equal(args[args.length - 2], 'root@10.0.0.5');
    // Without hashing (a round of a followed image): the same bytes, no digest.
    rmSync(dst);
    const plain = parsePull(sh(pull('aix', SRC, src, 0, dst), undefined, env).stdout.toString());
    assert.deepEqual(plain, { ssh: 0, write: 0, size: data.length, sha256: null, messages: '' });
    assert.ok(readFileSync(dst).equals(data));
    assert.throws(() => pull('aix', SRC, src, 5, dst, { hash: true }), /byte 0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pull resumes at an offset: cuts the tape host's copy there and appends the rest", () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const env = fakeSsh(dir);
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    const data = randomBytes(1 << 20);
    writeFileSync(src, data);
    writeFileSync(dst, Buffer.concat([data.subarray(0, 300000), randomBytes(1000)]));
    const r = sh(pull('aix', SRC, src, 300000, dst), undefined, env);
    assert.deepEqual(parsePull(r.stdout.toString() + r.stderr), { ssh: 0, write: 0, size: data.length, sha256: null, messages: '' });
    assert.ok(readFileSync(dst).equals(data));
    // A copy shorter than the offset is refused by the writer and left alone.
    writeFileSync(dst, data.subarray(0, 100));
    const short = sh(pull('aix', SRC, src, 300000, dst), undefined, env);
    const rep = parsePull(short.stdout.toString() + short.stderr);
    assert.equal(rep.write, SHORT_FILE_STATUS);
    assert.equal(rep.size, 100);
    assert.match(rep.messages, /fewer than the offset 300000/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pull reports ssh's own failures (255) with its message, and how far the bytes came", () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    const data = randomBytes(1 << 20);
    writeFileSync(src, data);
    const refused = sh(pull('linux', SRC, src, 0, dst, { hash: true }), undefined, fakeSsh(dir, 'refuse'));
    // Nothing arrived, not even the data marker: the writer leaves the target alone and says so.
    assert.deepEqual(parsePull(refused.stdout.toString() + refused.stderr), {
      ssh: 255,
      write: NO_DATA_STATUS,
      size: null,
      sha256: null,
      messages: 'root@10.0.0.5: Permission denied (publickey).',
    });
    const dropped = sh(pull('linux', SRC, src, 0, dst, { hash: true }), undefined, fakeSsh(dir, 'drop:400000'));
    const rep = parsePull(dropped.stdout.toString() + dropped.stderr);
    assert.equal(rep.ssh, 255);
    // The bytes of the image only: the marker's line is not written.
    assert.equal(rep.size, 400000 - `\n${DATA_MARKER}\n`.length);
    assert.ok(readFileSync(dst).equals(data.subarray(0, rep.size!)));
    assert.equal(rep.messages, 'Connection to 10.0.0.5 closed by remote host.');
    // The source's read failing is the remote status, not 255.
    const missing = sh(pull('linux', SRC, join(dir, 'none'), 0, dst, { hash: true }), undefined, fakeSsh(dir));
    const m = parsePull(missing.stdout.toString() + missing.stderr);
    assert.notEqual(m.ssh, 0);
    assert.notEqual(m.ssh, 255);
    assert.match(m.messages, /none/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parsePull finds the status lines wherever they land, and keeps the rest as messages', () => {
  const digest = 'a'.repeat(64);
  const out =
    'Warning: Identity file /x not accessible: No such file or directory.\r\n' +
    `mksysb-tape-pull ssh 255\nSHA2-256(stdin)= ${digest}\nmksysb-tape-pipe-status 0\n` +
    'root@h: Permission denied (publickey).mksysb-tape-pull write 0\n\nmksysb-tape-pull size    12345\n';
  assert.deepEqual(parsePull(out), {
    ssh: 255,
    write: 0,
    size: 12345,
    sha256: digest,
    messages: 'Warning: Identity file /x not accessible: No such file or directory.\nroot@h: Permission denied (publickey).',
  });
  // A digest without tee's status 0 is not the file's.
  assert.equal(parsePull(`(stdin)= ${digest}\nmksysb-tape-pipe-status 1\n`).sha256, null);
  assert.deepEqual(parsePull('mksysb-tape-pull size absent\n'), { ssh: null, write: null, size: null, sha256: null, messages: '' });
});

test('pull names and the mark of the current pull', () => {
  assert.equal(pullName(4, 0), 'pull-r4-0');
  assert.equal(pullName(1, 123456789), 'pull-r1-123456789');
  assert.equal(parsePullName('pull-r4-777\n', 4), 777);
  assert.equal(parsePullName('pull-r4-777', 1), null);
  assert.equal(parsePullName('', 4), null);
  assert.throws(() => pullName(5, 0));
  assert.throws(() => markPull('/x', 4, 'pull-r1-0'), /record 4/);
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    assert.equal(sh(currentPull(dir, 4)).stdout.toString(), '');
    assert.equal(sh(markPull(dir, 4, pullName(4, 4096))).code, 0);
    assert.equal(parsePullName(sh(currentPull(dir, 4)).stdout.toString(), 4), 4096);
    assert.equal(sh(currentPull(dir, 1)).stdout.toString(), '');
    assert.equal(sh(unmarkPull(dir, 4)).code, 0);
    assert.equal(sh(currentPull(dir, 4)).stdout.toString(), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('survey: creates the staging folder and tells the current pull, the copy\'s size and the free space in one go', () => {
  const dir = mkdtempSync(join(tmpdir(), 'transfer-'));
  try {
    const staging = join(dir, 'b1');
    const target = join(staging, '4_mksysb.img');
    const first = parseSurvey(sh(survey(staging, target, 4)).stdout.toString());
    assert.equal(first.pull, '');
    assert.equal(first.size, null);
    assert.ok(first.df.freeKiB > 0);
    writeFileSync(target, Buffer.alloc(12345));
    assert.equal(sh(markPull(staging, 4, pullName(4, 512))).code, 0);
    const second = parseSurvey(sh(survey(staging, target, 4)).stdout.toString());
    assert.deepEqual([second.pull, second.size], ['pull-r4-512', 12345]);
    assert.equal(parseSurvey(sh(survey(staging, target, 1)).stdout.toString()).pull, '');
    // AIX's df layout and wc's leading blanks.
    const aix = parseSurvey(
      'mksysb-tape-survey pull \nmksysb-tape-survey size      42\n' +
        'Filesystem    1024-blocks      Free %Used    Iused %Iused Mounted on\n/dev/hd1          1048576    524288   50%       12     1% /home\n',
    );
    assert.deepEqual(aix, { pull: '', size: 42, df: { filesystem: '/dev/hd1', totalKiB: 1048576, freeKiB: 524288, mountedOn: '/home' } });
    assert.throws(() => parseSurvey('Filesystem 1K-blocks Used Available Use% Mounted on\n'), /no size/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
