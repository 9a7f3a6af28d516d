/**
 * Many short commands, detached starts and small relays through one pool against one lab host whose sshd allows
 * OpenSSH's default of 10 sessions per connection, with the worker's event loop kept busy on purpose (as a worker
 * relaying images and bundling workflow code keeps it). Every command's exit status must reach its caller, and no
 * session open may be refused: the two ways a short command that ran on a production host became a reported failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { ConnectionLostError, SshPool, relay, type HostEndpoint, type SshHost } from '../../src/ssh';
import { detached, shell } from '../../src/tape';
import { startLab, type Lab } from '../../lab/index';
import { startSshd } from './sshd-fixture';

let lab: Lab;
let pool: SshPool;

before(async () => {
  lab = await startLab({ sources: ['aix01'], tapeHosts: [] });
  pool = new SshPool({ keepaliveIntervalMs: 5000 });
});
after(async () => {
  await pool.closeAll();
  await lab.down();
});

function endpoint(name: string): HostEndpoint {
  const h = lab.host(name);
  return { name, address: h.address, port: h.port, user: h.user, hostKey: h.hostKey, privateKey: fs.readFileSync(h.privateKeyPath) };
}

/** Blocks the event loop for `busyMs` of every `periodMs` until stopped. */
function busyLoop(busyMs: number, periodMs: number): () => void {
  const t = setInterval(() => {
    const until = Date.now() + busyMs;
    while (Date.now() < until) {
      /* busy */
    }
  }, periodMs);
  return () => clearInterval(t);
}

type Outcome = 'ok' | 'lost-exit' | 'refused-open' | 'lost-other' | 'wrong';

function classify(err: unknown): Outcome {
  if (err instanceof ConnectionLostError) {
    if (/before the command reported its exit status/.test(err.message)) return 'lost-exit';
    if (/cannot open a session/.test(err.message)) return 'refused-open';
    return 'lost-other';
  }
  throw err;
}

async function shortCommand(h: SshHost, i: number): Promise<Outcome> {
  const r = await h.exec(shell.killOnHangup(`echo ${i}; exit ${i % 7}`), { lifeline: true });
  return r.stdout === `${i}\n` && r.code === i % 7 ? 'ok' : 'wrong';
}

async function detachedStart(h: SshHost, i: number): Promise<Outcome> {
  const dir = `/home/mksysb/stress`;
  const p = await h.execStream(detached.start(dir, `d${i}`, `echo done ${i}`, { wait: true }));
  p.stdin.end();
  let out = '';
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (d: string) => (out += d));
  const e = await p.exit;
  const s = detached.parseState(out);
  return e.code === 0 && s.state === 'exited' && s.code === 0 ? 'ok' : 'wrong';
}

async function smallRelay(h: SshHost, i: number): Promise<Outcome> {
  const r = await relay(h, `printf 'relay %s\\n' ${i}`, h, `cat > /home/mksysb/stress/r${i}; cat /home/mksysb/stress/r${i}`);
  return r.source.code === 0 && r.destination.code === 0 && r.destination.stdout === `relay ${i}\n` ? 'ok' : 'wrong';
}

test('1500 short commands, detached starts and small relays, 40 at a time, busy event loop, MaxSessions 10: no exit status lost, no session refused', async () => {
  const h = pool.host(endpoint('aix01'));
  await h.exec('mkdir -p /home/mksysb/stress');
  const kinds = [shortCommand, shortCommand, shortCommand, detachedStart, smallRelay];
  const total = 1500;
  const counts: Record<Outcome, number> = { ok: 0, 'lost-exit': 0, 'refused-open': 0, 'lost-other': 0, wrong: 0 };
  const stopBusy = busyLoop(10, 20);
  const t0 = Date.now();
  try {
    let next = 0;
    const runner = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        const outcome = await kinds[i % kinds.length]!(h, i).catch(classify);
        counts[outcome]++;
      }
    };
    await Promise.all(Array.from({ length: 40 }, runner));
  } finally {
    stopBusy();
  }
  const stats = pool.stats();
  console.log(`stress: ${total} operations in ${Date.now() - t0} ms: ${JSON.stringify(counts)}; pool ${JSON.stringify(stats)}`);
  assert.deepEqual(counts, { ok: total, 'lost-exit': 0, 'refused-open': 0, 'lost-other': 0, wrong: 0 });
  assert.equal(stats.refusedOpens, 0, 'the server refused no session open');
  assert.ok(stats.maxSessionsInUse <= 10, `at most 10 sessions on a connection (saw ${stats.maxSessionsInUse})`);
  assert.ok(stats.maxSessionsInUse === 10, 'the load reached the limit');
  assert.ok(stats.connectionsOpened >= 2, 'more sessions than one connection allows went to another connection');
});

test('a host that allows fewer sessions than the inventory says: refused opens go to another connection, none fails', async () => {
  // A session we hang up on stays counted by sshd until its command exits, but sshd then also holds back its own
  // close, so the pool's count follows the server's. What remains is an inventory that overstates MaxSessions.
  const sshd = await startSshd(['MaxSessions 3']);
  const p0 = new SshPool();
  try {
    const h = p0.host(sshd.endpoint({ maxSessions: 10 }));
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => h.exec(shell.killOnHangup(`sleep 0.3; echo ${i}`), { lifeline: true })));
    assert.deepEqual(rs.map((r) => r.stdout), Array.from({ length: 12 }, (_, i) => `${i}\n`));
    const stats = p0.stats();
    console.log(`MaxSessions 3, inventory 10: ${JSON.stringify(stats)}`);
    assert.ok(stats.refusedOpens >= 1, 'the server refused opens beyond its limit');
    assert.ok(stats.maxSessionsInUse <= 10);
    assert.ok(stats.connectionsOpened >= 2, 'the refused commands ran on other connections');
  } finally {
    await p0.closeAll();
    await sshd.stop();
  }
});

test('a channel that really closes without an exit status still fails with ConnectionLostError', async () => {
  const p0 = new SshPool();
  try {
    const h = p0.host(endpoint('aix01'));
    // The session's own sshd process dies mid-command: no exit status is ever sent.
    const err = await h.exec(shell.killOnHangup('kill -9 $PPID; sleep 5'), { lifeline: true }).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectionLostError, String(err));
    assert.equal((await h.exec('echo again')).stdout, 'again\n');
  } finally {
    await p0.closeAll();
  }
});

test('beyond maxConnectionsPerHost × maxSessions a command waits for a session to end, then runs', async () => {
  const p0 = new SshPool({ maxConnectionsPerHost: 1 });
  try {
    const h = p0.host({ ...endpoint('aix01'), maxSessions: 2 });
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => h.exec(shell.killOnHangup(`sleep 0.5; echo ${i}`), { lifeline: true })));
    assert.deepEqual(rs.map((r) => r.stdout), Array.from({ length: 6 }, (_, i) => `${i}\n`));
    const stats = p0.stats();
    assert.deepEqual([stats.connectionsOpened, stats.maxSessionsInUse, stats.refusedOpens], [1, 2, 0]);
    // Two at a time: three rounds of half a second each.
    assert.ok(Date.now() - t0 >= 1500, `ran in rounds of two (${Date.now() - t0} ms)`);
  } finally {
    await p0.closeAll();
  }
});
