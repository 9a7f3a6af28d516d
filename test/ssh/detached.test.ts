/**
 * The src/tape builders run over the ssh layer against a real sshd: detached commands outlive the session that
 * started them and can be re-attached and stopped from another connection; a relayed transfer resumes at an offset
 * after a dropped connection.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionLostError, SshPool, relay } from '../../src/ssh';
import { parseState, poll, start, stop } from '../../src/tape/detached';
import { killOnHangup } from '../../src/tape/shell';
import { fileSizeOrAbsent, parseSha256, parseSizeOrAbsent, sha256File } from '../../src/tape/images';
import { DATA_MARKER, readFrom, writeFrom } from '../../src/tape/transfer';
import { ActivityHosts } from '../../src/activities/hosts';
import { startSshd, type TestSshd } from './sshd-fixture';

let src: TestSshd;
let dst: TestSshd;

before(async () => {
  [src, dst] = await Promise.all([startSshd(), startSshd()]);
});
after(async () => {
  await Promise.all([src.stop(), dst.stop()]);
});

test('a detached command survives its SSH connection, is re-attached from a new one, and is never started twice', async () => {
  const work = join(src.dir, 'backup one');
  const cmd = `echo run >> runs; sleep 2; echo made > image`;
  const p1 = new SshPool();
  const s1 = parseState((await p1.host(src.endpoint()).exec(killOnHangup(start(work, 'mksysb', cmd)), { lifeline: true })).stdout);
  assert.equal(s1.state, 'started');
  // (started under killOnHangup: the wrapper's watcher is dismissed when the start command ends)
  // the worker dies: its connection goes away while the command runs
  await p1.closeAll();
  src.killSessions();
  const p2 = new SshPool();
  try {
    const h = p2.host(src.endpoint());
    const again = parseState((await h.exec(killOnHangup(start(work, 'mksysb', cmd)), { lifeline: true })).stdout);
    assert.equal(again.state, 'running', 're-attached, not restarted');
    let st = parseState((await h.exec(poll(work, 'mksysb'))).stdout);
    const until = Date.now() + 10000;
    while (st.state === 'running' && Date.now() < until) {
      await sleep(100);
      st = parseState((await h.exec(poll(work, 'mksysb'))).stdout);
    }
    assert.deepEqual(st, { state: 'exited', code: 0 });
    assert.equal(readFileSync(join(work, 'runs'), 'utf8'), 'run\n');
    assert.equal(readFileSync(join(work, 'image'), 'utf8'), 'made\n');
  } finally {
    await p2.closeAll();
  }
});

test('a waiting start reports the end on its own session; a released or dropped session leaves the command running', async () => {
  const pool = new SshPool();
  const p2 = new SshPool();
  try {
    const h = pool.host(src.endpoint());
    // Waited for to the end: the session prints the start, then the exit status when the command has ended.
    const work = join(src.dir, 'waiting');
    const whole = await h.exec(start(work, 'short', 'echo made > image; exit 3', { wait: true }));
    const lines = whole.stdout.trim().split('\n');
    assert.equal(parseState(lines[0]!).state, 'started');
    assert.deepEqual(parseState(whole.stdout), { state: 'exited', code: 3 });
    assert.equal(readFileSync(join(work, 'image'), 'utf8'), 'made\n');

    // Released right after the start (what the worker does when it stops waiting): the command runs on.
    const p = await h.execStream(start(work, 'released', 'sleep 1; echo made > released', { wait: true }));
    p.stdin.end();
    const first = await new Promise<string>((res) => p.stdout.once('data', (d: Buffer) => res(d.toString())));
    assert.equal(parseState(first).state, 'started');
    p.detach();
    // Dropped with the whole connection (a worker that dies): the command runs on too.
    const q = await h.execStream(start(work, 'dropped', 'sleep 1; echo made > dropped', { wait: true }));
    q.stdin.end();
    await new Promise((res) => q.stdout.once('data', res));
    await pool.closeAll();
    src.killSessions();
    const h2 = p2.host(src.endpoint());
    for (const name of ['released', 'dropped']) {
      let st = parseState((await h2.exec(poll(work, name))).stdout);
      const until = Date.now() + 15000;
      while (st.state === 'running' && Date.now() < until) {
        await sleep(100);
        st = parseState((await h2.exec(poll(work, name))).stdout);
      }
      assert.deepEqual(st, { state: 'exited', code: 0 }, name);
      assert.equal(readFileSync(join(work, name), 'utf8'), 'made\n', name);
    }
  } finally {
    await pool.closeAll();
    await p2.closeAll();
  }
});

test('runDetached learns of the end from the waiting session, not from its next poll', { timeout: 120_000 }, async () => {
  const inventoryPath = join(src.dir, 'inventory.json');
  writeFileSync(
    inventoryPath,
    JSON.stringify({
      hosts: {
        testhost: {
          address: '127.0.0.1', port: src.port, user: src.endpoint().user, os: 'aix', role: 'source', workFolder: '/tmp',
          key: { path: src.privateKeyPath }, hostKey: src.hostKey,
        },
      },
    }),
  );
  const pool = new SshPool();
  try {
    // Polls every 10 minutes: only the waiting session can end this within the test's timeout.
    const rt = new ActivityHosts({ inventoryPath, pool, pollIntervalMs: 600_000 });
    const work = join(src.dir, 'runtime-wait');
    const r = await rt.runDetached('testhost', 'a short command', work, 'short', 'sleep 1; echo made > image', () => ({}));
    assert.deepEqual(r, { attached: false });
    assert.equal(readFileSync(join(work, 'image'), 'utf8'), 'made\n');
    // A failing command: its exit status and output reach the caller the same way.
    await assert.rejects(
      rt.runDetached('testhost', 'a failing command', work, 'failing', 'echo "no tape" >&2; exit 4', () => ({})),
      /a failing command on testhost failed \(exit status 4\): no tape/,
    );
  } finally {
    await pool.closeAll();
  }
});

test('stop over SSH ends a detached command and its children', async () => {
  const pool = new SshPool();
  try {
    const h = pool.host(src.endpoint());
    const work = join(src.dir, 'stopme');
    const s = parseState((await h.exec(killOnHangup(start(work, 'write4', `sleep 305 | cat`)), { lifeline: true })).stdout);
    assert.equal(s.state, 'started');
    await sleep(200);
    assert.equal(parseState((await h.exec(killOnHangup(stop(work, 'write4')), { lifeline: true })).stdout).state, 'stopped');
    const r = await h.exec(`sleep 0.3; ps -e -o args= | grep -c '^sleep 305' || true`);
    assert.equal(r.stdout.trim(), '0');
    assert.equal(parseState((await h.exec(poll(work, 'write4'))).stdout).state, 'stopped');
  } finally {
    await pool.closeAll();
  }
});

test('a relayed transfer dropped midway resumes at the received size and ends byte-identical', async () => {
  const data = randomBytes(48 * 1024 * 1024);
  const from = join(src.dir, '4_mksysb.img');
  const to = join(dst.dir, '4_mksysb.img');
  writeFileSync(from, data);
  const pool = new SshPool({ keepaliveIntervalMs: 500 });
  try {
    const a = pool.host(src.endpoint({ name: 'src' }));
    const b = pool.host(dst.endpoint({ name: 'dst' }));
    let dropped = false;
    const first = await relay(a, readFrom(from, 0), b, writeFrom(to, 0), {
      dataMarker: DATA_MARKER,
      progressIntervalMs: 5,
      onProgress: (n) => {
        if (!dropped && n > 8 * 1024 * 1024) {
          dropped = true;
          dst.killSessions();
        }
      },
    }).catch((e: unknown) => e);
    assert.ok(dropped);
    assert.ok(first instanceof ConnectionLostError, String(first));
    // resume from what the receiving host really holds
    const have = parseSizeOrAbsent((await b.exec(fileSizeOrAbsent(to))).stdout);
    assert.ok(have !== null && have > 0 && have < data.length, `received ${have}`);
    const second = await relay(a, readFrom(from, have), b, writeFrom(to, have), { dataMarker: DATA_MARKER });
    assert.deepEqual([second.source.code, second.destination.code], [0, 0]);
    assert.equal(second.bytes, data.length - have);
    const want = createHash('sha256').update(data).digest('hex');
    assert.equal(parseSha256((await b.exec(sha256File('linux', to))).stdout), want);
    assert.equal(parseSha256((await b.exec(sha256File('aix', to))).stdout), want);
  } finally {
    await pool.closeAll();
  }
});
