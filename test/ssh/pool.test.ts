import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AuthenticationError,
  CommandAbortedError,
  CommandTimeoutError,
  ConnectError,
  ConnectionLostError,
  HostKeyMismatchError,
  NON_RETRYABLE_SSH_ERROR_TYPES,
  SshPool,
  UnknownHostKeyError,
  fingerprint,
  parsePinnedKey,
  relay,
} from '../../src/ssh';
import { killOnHangup } from '../../src/tape/shell';
import { startSshd, type TestSshd } from './sshd-fixture';
import { alive } from '../helpers/processes';

let sshd: TestSshd;
let other: TestSshd;
let pool: SshPool;

before(async () => {
  [sshd, other] = await Promise.all([startSshd(), startSshd()]);
  pool = new SshPool({ keepaliveIntervalMs: 1000, readyTimeoutMs: 5000 });
});
after(async () => {
  await pool.closeAll();
  await Promise.all([sshd.stop(), other.stop()]);
});


async function waitUntil(cond: () => boolean, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) return false;
    await sleep(25);
  }
  return true;
}

test('exec: stdout, stderr, exit codes, death by signal', async () => {
  const h = pool.host(sshd.endpoint());
  assert.deepEqual(await h.exec("printf 'out\\n'; printf 'err\\n' >&2"), { code: 0, stdout: 'out\n', stderr: 'err\n' });
  const r3 = await h.exec('exit 3');
  assert.equal(r3.code, 3);
  const rs = await h.exec('kill -TERM $$');
  assert.equal(rs.code, null);
  assert.equal(rs.signal, 'SIGTERM');
  const big = await h.exec('head -c 3000000 /dev/zero | tr "\\0" a');
  assert.equal(big.stdout.length, 3000000);
});

test('one connection is reused for many commands, including concurrent ones', async () => {
  const h = pool.host(sshd.endpoint());
  await h.exec('true');
  const before = sshd.sessionPids().length;
  const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => h.exec(`echo ${i}`)));
  assert.deepEqual(rs.map((r) => r.stdout), Array.from({ length: 8 }, (_, i) => `${i}\n`));
  assert.equal(sshd.sessionPids().length, before, 'no new connection');
  assert.equal(pool.host(sshd.endpoint()), h, 'same pooled host');
});

test('exec stdin: string, Buffer, stream', async () => {
  const h = pool.host(sshd.endpoint());
  assert.equal((await h.exec('cat', { stdin: "it's\n" })).stdout, "it's\n");
  assert.equal((await h.exec('wc -c', { stdin: Buffer.alloc(100000, 1) })).stdout.trim(), '100000');
  const stream = Readable.from([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
  assert.equal((await h.exec('cat', { stdin: stream })).stdout, 'abc');
  // no stdin: EOF at once, so cat does not hang
  assert.equal((await h.exec('cat')).stdout, '');
});

test('execStream: 64 MiB through cat, byte-identical', async () => {
  const h = pool.host(sshd.endpoint());
  const p = await h.execStream('cat');
  const inHash = createHash('sha256');
  const outHash = createHash('sha256');
  let outBytes = 0;
  p.stdout.on('data', (d: Buffer) => {
    outHash.update(d);
    outBytes += d.length;
  });
  const chunk = 1 << 20;
  async function* source() {
    for (let i = 0; i < 64; i++) {
      const b = randomBytes(chunk);
      inHash.update(b);
      yield b;
    }
  }
  await pipeline(Readable.from(source()), p.stdin);
  const exit = await p.exit;
  assert.deepEqual(exit, { code: 0 });
  assert.equal(outBytes, 64 * chunk);
  assert.equal(outHash.digest('hex'), inHash.digest('hex'));
});

test('host key mismatch is refused, naming the host and the fingerprint presented', async () => {
  const p = new SshPool({ readyTimeoutMs: 5000 });
  try {
    const err = await p.host(sshd.endpoint({ name: 'aix01', hostKey: other.hostKey })).exec('true').catch((e: unknown) => e);
    assert.ok(err instanceof HostKeyMismatchError, String(err));
    const seen = execFileSync('ssh-keygen', ['-l', '-f', join(sshd.dir, 'host_ed25519.pub')], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(err.fingerprint, seen);
    assert.match(err.message, /aix01/);
    assert.ok(err.message.includes(seen!));
    assert.equal(err.errorType, 'HostKeyMismatchError');
    assert.equal(err.retryable, false);
    assert.ok(NON_RETRYABLE_SSH_ERROR_TYPES.includes(err.errorType));
    assert.ok(!err.message.includes(sshd.privateKey.toString('utf8').split('\n')[1]!), 'no key material');
  } finally {
    await p.closeAll();
  }
});

test('no pinned key: refused with the fingerprint to check', async () => {
  const p = new SshPool({ readyTimeoutMs: 5000 });
  try {
    const err = await p.host(sshd.endpoint({ hostKey: '' })).exec('true').catch((e: unknown) => e);
    assert.ok(err instanceof UnknownHostKeyError, String(err));
    assert.equal(err.fingerprint, fingerprint(parsePinnedKey(sshd.hostKey).blob));
    assert.equal(err.retryable, false);
  } finally {
    await p.closeAll();
  }
});

test('a whole known_hosts line is accepted as the pinned key', async () => {
  const p = new SshPool({ readyTimeoutMs: 5000 });
  try {
    const line = `[127.0.0.1]:${sshd.port} ${sshd.hostKey} comment`;
    assert.equal((await p.host(sshd.endpoint({ hostKey: line })).exec('echo ok')).stdout, 'ok\n');
    assert.throws(() => parsePinnedKey('ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ'), /not a valid/);
    assert.throws(() => parsePinnedKey('garbage'), /must look like/);
  } finally {
    await p.closeAll();
  }
});

test('authentication failure has its own non-retryable type', async () => {
  const p = new SshPool({ readyTimeoutMs: 5000 });
  try {
    const err = await p.host(sshd.endpoint({ privateKey: other.privateKey })).exec('true').catch((e: unknown) => e);
    assert.ok(err instanceof AuthenticationError, String(err));
    assert.equal(err.retryable, false);
    assert.ok(!err.message.includes('PRIVATE KEY'));
    const wrongUser = await p.host(sshd.endpoint({ user: 'nobody' })).exec('true').catch((e: unknown) => e);
    assert.ok(wrongUser instanceof AuthenticationError, String(wrongUser));
  } finally {
    await p.closeAll();
  }
});

test('unreachable host: retryable ConnectError', async () => {
  const p = new SshPool({ readyTimeoutMs: 2000 });
  try {
    const err = await p.host(sshd.endpoint({ port: 1 })).exec('true').catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal(err.retryable, true);
    assert.equal(err.code, 'ECONNREFUSED');
  } finally {
    await p.closeAll();
  }
});

test('a dropped connection fails the running command with ConnectionLostError, and the next command reconnects', async () => {
  const p = new SshPool({ keepaliveIntervalMs: 500, readyTimeoutMs: 5000 });
  try {
    const h = p.host(sshd.endpoint());
    await h.exec('true');
    // Only this pool's connection is dropped: the file's shared pool keeps its own (see killSessionOf).
    const shellPid = async (file: string) => {
      assert.ok(await waitUntil(() => existsSync(file)));
      return Number(readFileSync(file, 'utf8'));
    };
    const running = h.exec(killOnHangup(`echo $$ > ${sshd.dir}/lost1.pid; sleep 30`), { lifeline: true }).catch((e: unknown) => e);
    sshd.killSessionOf(await shellPid(`${sshd.dir}/lost1.pid`));
    const err = await running;
    assert.ok(err instanceof ConnectionLostError, String(err));
    assert.equal(err.retryable, true);
    assert.equal((await h.exec('echo again')).stdout, 'again\n');
    // and a stream in flight sees the drop too
    const s = await h.execStream(`echo $$ > ${sshd.dir}/lost2.pid; exec cat`);
    s.stdout.resume();
    sshd.killSessionOf(await shellPid(`${sshd.dir}/lost2.pid`));
    await assert.rejects(s.exit, ConnectionLostError);
    assert.equal((await h.exec('echo back')).stdout, 'back\n');
  } finally {
    await p.closeAll();
  }
});

test('abort signals the remote command (its whole process group) and closes the channel', async () => {
  const h = pool.host(sshd.endpoint());
  const dir = sshd.dir;
  const ac = new AbortController();
  const cmd = `echo $$ > ${dir}/sh.pid; sleep 301 & echo $! > ${dir}/bg.pid; sleep 302 | cat; wait`;
  const running = h.exec(killOnHangup(cmd), { signal: ac.signal, lifeline: true }).catch((e: unknown) => e);
  assert.ok(await waitUntil(() => existsSync(`${dir}/bg.pid`)));
  await sleep(200);
  const shPid = Number(readFileSync(`${dir}/sh.pid`, 'utf8'));
  const bgPid = Number(readFileSync(`${dir}/bg.pid`, 'utf8'));
  const fgPids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(shPid)], { encoding: 'utf8' })
    .split('\n')
    .map(Number)
    .filter((n) => n > 0);
  assert.ok(alive(shPid) && alive(bgPid) && fgPids.length >= 2);
  ac.abort();
  const err = await running;
  assert.ok(err instanceof CommandAbortedError, String(err));
  assert.equal(err.name, 'AbortError');
  for (const pid of [shPid, bgPid, ...fgPids]) assert.ok(await waitUntil(() => !alive(pid)), `process ${pid} still alive`);
  // an already aborted signal runs nothing
  await assert.rejects(h.exec('true', { signal: AbortSignal.abort() }), CommandAbortedError);
});

test('a dropped connection (a crashed worker) kills the command it was running, children included', async () => {
  const p = new SshPool({ readyTimeoutMs: 5000 });
  try {
    const h = p.host(sshd.endpoint());
    const dir = sshd.dir;
    const running = h.exec(killOnHangup(`sleep 306 & echo $! > ${dir}/drop.pid; wait`), { lifeline: true }).catch((e: unknown) => e);
    assert.ok(await waitUntil(() => existsSync(`${dir}/drop.pid`)));
    await sleep(100);
    const pid = Number(readFileSync(`${dir}/drop.pid`, 'utf8'));
    assert.ok(alive(pid));
    sshd.killSessionOf(pid);
    assert.ok((await running) instanceof ConnectionLostError);
    assert.ok(await waitUntil(() => !alive(pid)), 'the remote command outlived its connection');
  } finally {
    await p.closeAll();
  }
});

test('execStream abort stops a streaming remote command', async () => {
  const h = pool.host(sshd.endpoint());
  const ac = new AbortController();
  const proc = await h.execStream(`echo $$ > ${sshd.dir}/stream.pid; exec cat /dev/zero`, { signal: ac.signal });
  let got = 0;
  proc.stdout.on('data', (d: Buffer) => {
    got += d.length;
    if (got > 4 * 1024 * 1024) ac.abort();
  });
  await assert.rejects(proc.exit, CommandAbortedError);
  const pid = Number(readFileSync(`${sshd.dir}/stream.pid`, 'utf8'));
  assert.ok(await waitUntil(() => !alive(pid)), 'remote cat still running');
});

test('timeoutMs stops the command', async () => {
  const h = pool.host(sshd.endpoint());
  const t0 = Date.now();
  await assert.rejects(h.exec(killOnHangup('sleep 20'), { timeoutMs: 300, lifeline: true }), CommandTimeoutError);
  assert.ok(Date.now() - t0 < 5000);
});

test('relay between two hosts: bytes counted, both exits reported, content intact', async () => {
  const a = pool.host(sshd.endpoint({ name: 'a' }));
  const b = pool.host(other.endpoint({ name: 'b' }));
  await a.exec(`head -c 20000000 /dev/urandom > ${sshd.dir}/src.img`);
  const progress: number[] = [];
  const r = await relay(a, `cat ${sshd.dir}/src.img`, b, `cat > ${other.dir}/dst.img`, { onProgress: (n) => progress.push(n), progressIntervalMs: 10 });
  assert.equal(r.bytes, 20000000);
  assert.deepEqual([r.source.code, r.destination.code], [0, 0]);
  assert.equal(progress.at(-1), 20000000);
  const sum = async (h: typeof a, f: string) => (await h.exec(`sha256sum ${f}`)).stdout.split(' ')[0];
  assert.equal(await sum(b, `${other.dir}/dst.img`), await sum(a, `${sshd.dir}/src.img`));
  // a destination that fails early stops the source instead of hanging
  const bad = await relay(a, `cat ${sshd.dir}/src.img`, b, 'head -c 1000 > /dev/null; echo refused >&2; exit 4');
  assert.equal(bad.destination.code, 4);
  assert.match(bad.destination.stderr, /refused/);
  assert.ok(bad.bytes < 20000000);
});

test('sftp works on the pooled connection', async () => {
  const h = pool.host(sshd.endpoint());
  const sftp = await h.sftp();
  const names = await new Promise<string[]>((resolve, reject) =>
    sftp.readdir(sshd.dir, (err, list) => (err ? reject(err) : resolve(list.map((e) => e.filename)))),
  );
  sftp.end();
  assert.ok(names.includes('sshd_config'));
});
