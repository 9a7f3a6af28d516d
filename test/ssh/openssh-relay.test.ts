/**
 * The OpenSSH relay against real sshds: the bytes arrive intact and resume at an offset; a wrong pinned key or a
 * refused login is the same typed error the ssh2 path gives; a destination that ends early stops the source; an
 * abort leaves no ssh process behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuthenticationError, CommandAbortedError, ConnectError, HostKeyMismatchError } from '../../src/ssh/errors';
import { findOpensshTools, opensshRelay, sweepStaleRelayDirs, type OpensshTools } from '../../src/ssh/openssh-relay';
import { readFrom, writeFrom } from '../../src/tape/transfer';
import { startSshd, type TestSshd } from './sshd-fixture';

let src: TestSshd;
let dst: TestSshd;
let tools: OpensshTools;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/**
 * PIDs of ssh clients started by the relays of process `pid` (their command lines name the relay's private dir,
 * which the pid names): other test files' workers relay through ssh clients of their own at the same time.
 */
const relayClients = (pid = process.pid): string[] =>
  spawnSync('pgrep', ['-f', `ssh .*mksysb-relay-${pid}-`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
/** This process's relay dirs, or those of `pid`. */
const relayDirs = (pid = process.pid, dir = tmpdir()): string[] => readdirSync(dir).filter((n) => n.startsWith(`mksysb-relay-${pid}-`));

before(async () => {
  [src, dst] = await Promise.all([startSshd(), startSshd()]);
  const t = await findOpensshTools();
  assert.ok(t, 'ssh and setpriv --pdeathsig are on this machine (.ci/run installs them)');
  tools = t;
});
after(async () => {
  await Promise.all([src.stop(), dst.stop()]);
});

test('a file relays intact through two OpenSSH clients, framed, resuming at an offset into a partial copy', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  writeFileSync(join(src.dir, 'image'), data);
  const before = relayDirs().length;
  const target = join(dst.dir, 'copy');
  const cut = 1024 * 1024 + 5;
  writeFileSync(target, data.subarray(0, cut));
  const r = await opensshRelay(tools, src.endpoint(), readFrom(join(src.dir, 'image'), cut), dst.endpoint(),
    writeFrom(target, cut, { framed: true }));
  assert.equal(r.source.code, 0, r.source.stderr);
  assert.equal(r.destination.code, 0, r.destination.stderr);
  assert.equal(sha(readFileSync(target)), sha(data));
  // the private dir with the key copies is gone
  assert.equal(relayDirs().length, before);
});

test('a source whose output ends before its ssh exits is a finished relay, not a source stopped early', async () => {
  // ssh closes its stdout at the channel's EOF and exits when the remote command does: the destination, having read
  // to that EOF, finishes first. The source is not stopped for it, and exits 0.
  const target = join(dst.dir, 'early-eof');
  const r = await opensshRelay(tools, src.endpoint(), 'printf abc; exec >&- 2>&-; sleep 2', dst.endpoint(), `cat > '${target}'`);
  assert.deepEqual([r.source.code, r.source.killed], [0, undefined], JSON.stringify(r.source));
  assert.equal(r.destination.code, 0);
  assert.equal(readFileSync(target, 'utf8'), 'abc');
});

test('relays while the libuv threads are all busy but one: no relay waits for a thread that waits for it', async () => {
  // Blocking opens of the relay's FIFO would hold a thread each until their other end opened; with the others
  // taken (here by opens of FIFOs nobody writes yet), the read end's open would wait forever for the write end's.
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const fifos = Array.from({ length: threads - 1 }, (_, i) => join(src.dir, `busy-${i}`));
  for (const f of fifos) spawnSync('mkfifo', [f]);
  const busy = fifos.map((f) => open(f, 'r'));
  const release = (): void => void spawnSync('sh', ['-c', 'for f; do : > "$f"; done', 'sh', ...fifos]);
  try {
    const data = randomBytes(256 * 1024);
    writeFileSync(join(src.dir, 'small'), data);
    const target = join(dst.dir, 'small-copy');
    const relayed = opensshRelay(tools, src.endpoint(), `cat '${join(src.dir, 'small')}'`, dst.endpoint(), `cat > '${target}'`);
    const stalled = Symbol('stalled');
    const r = await Promise.race([relayed, sleep(30_000).then(() => stalled)]);
    release();
    assert.notEqual(r, stalled, 'the relay finished while the other threads were busy');
    assert.equal(sha(readFileSync(target)), sha(data));
  } finally {
    release();
    for (const fh of await Promise.all(busy)) await fh.close();
  }
});

test('a wrong pinned host key is HostKeyMismatchError and the destination command never runs', async () => {
  const marker = join(dst.dir, 'ran');
  await assert.rejects(
    opensshRelay(tools, src.endpoint(), 'echo hi', dst.endpoint({ hostKey: src.hostKey }), `touch '${marker}'; cat`),
    HostKeyMismatchError,
  );
  assert.equal(existsSync(marker), false);
});

test('another key than the authorised one is AuthenticationError; a closed port is ConnectError', async () => {
  const other = await startSshd();
  try {
    await assert.rejects(
      opensshRelay(tools, src.endpoint(), 'echo hi', dst.endpoint({ privateKey: other.privateKey }), 'cat'),
      AuthenticationError,
    );
  } finally {
    await other.stop();
  }
  // Refused in milliseconds, often before the relay has closed its FIFO ends and started waiting for the exits
  // (about one try in seven here): an unhandled rejection in that gap fails this test under node:test.
  for (let i = 0; i < 25; i++) {
    await assert.rejects(
      opensshRelay(tools, src.endpoint(), 'echo hi', dst.endpoint({ port: other.port }), 'cat'),
      ConnectError,
    );
  }
});

test('a destination that fails early stops an endless source', async () => {
  const started = Date.now();
  const r = await opensshRelay(tools, src.endpoint(), 'yes', dst.endpoint(), 'head -c 1000 >/dev/null; exit 3');
  assert.equal(r.destination.code, 3);
  assert.equal(r.source.killed, true, 'the source was stopped');
  assert.ok(Date.now() - started < 30_000);
});

test('an abort rejects with CommandAbortedError and leaves no ssh of the relay running', async () => {
  const ac = new AbortController();
  const target = join(dst.dir, 'endless');
  const p = opensshRelay(tools, src.endpoint(), 'yes', dst.endpoint(), `cat > '${target}'`, { signal: ac.signal });
  await sleep(1500);
  ac.abort();
  await assert.rejects(p, CommandAbortedError);
  // (the remote cat may still drain what its sshd had buffered: the relay's promise is about the worker's side)
  assert.deepEqual(relayClients(), [], 'both ssh clients have exited when the promise settles');
});

test('a worker killed with SIGKILL mid-relay takes its ssh clients with it', async () => {
  const target = join(dst.dir, 'orphan');
  const script = join(src.dir, 'relay-child.ts');
  const mod = (p: string): string => JSON.stringify(join(__dirname, '..', '..', 'src', 'ssh', p));
  writeFileSync(script, [
    `import { findOpensshTools, opensshRelay } from ${mod('openssh-relay')};`,
    `const [s, d] = JSON.parse(process.argv[2], (_k, v) => v && v.type === 'Buffer' ? Buffer.from(v.data) : v);`,
    `findOpensshTools().then((t) => opensshRelay(t!, s, 'yes', d, ${JSON.stringify(`cat > '${target}'`)}));`,
  ].join('\n'));
  // Its own TMPDIR: another test process's first relay would sweep the dead worker's dir from a shared one.
  const childTmp = join(src.dir, 'child-tmp');
  mkdirSync(childTmp);
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify([src.endpoint(), dst.endpoint()])],
    { stdio: 'ignore', env: { ...process.env, TMPDIR: childTmp } });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let grew = false;
  for (let i = 0; i < 100 && !grew; i++) {
    await sleep(200);
    grew = existsSync(target) && readFileSync(target).length > 0;
  }
  assert.ok(grew, 'the relay was running');
  assert.notDeepEqual(relayClients(child.pid), [], 'the relay runs through ssh clients');
  child.kill('SIGKILL');
  await exited;
  // The kernel sends the parent-death signal as the worker dies; a bounded wait for it to be delivered.
  for (let i = 0; i < 50 && relayClients(child.pid).length > 0; i++) await sleep(100);
  assert.deepEqual(relayClients(child.pid), [], 'no orphaned ssh goes on relaying');
  // its private dir (with the key copies) is left behind, and the next worker's sweep removes it
  const left = relayDirs(child.pid, childTmp);
  assert.equal(left.length, 1);
  assert.deepEqual(await sweepStaleRelayDirs(childTmp), left);
  assert.deepEqual(relayDirs(child.pid, childTmp), []);
});
