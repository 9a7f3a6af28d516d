/**
 * `npm run dev`, the embedded default: the dev server with its Web UI on the printed address, the lab and a worker; a
 * first backup runs to the end; stopped and started again, the earlier runs are still there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';

const root = path.resolve(__dirname, '..', '..');

async function freePort(): Promise<number> {
  return await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function startDev(args: string[]): { child: ChildProcess; output: () => string; printed: (re: RegExp) => Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'dev.ts'), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MKSYSB_TAPE_LOG_LEVEL: 'WARN' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const printed = async (re: RegExp) => {
    const end = Date.now() + 90_000;
    for (;;) {
      const m = out.match(re);
      if (m) return m;
      if (child.exitCode !== null) throw new Error(`dev exited (${child.exitCode}):\n${out}`);
      if (Date.now() > end) throw new Error(`dev did not print ${re}:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return { child, output: () => out, printed };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await done;
}

test('npm run dev: UI on the printed address, a first backup finishes, runs survive a restart', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mksysb-dev-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const args = ['--port', String(port), '--ui-port', String(uiPort), '--data-dir', dataDir];
  let dev = startDev([...args, '--first-backup']);
  try {
    const ui = (await dev.printed(/Temporal Web UI:\s+(http:\/\/\S+)/))[1]!;
    assert.equal(ui, `http://127.0.0.1:${uiPort}`);
    const res = await fetch(ui);
    assert.equal(res.status, 200, 'the Web UI answers');
    const workflowId = (await dev.printed(/started (mksysb-tape\/aix01\/\S+):/))[1]!;
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const client = new Client({ connection });
      const result = (await client.workflow.getHandle(workflowId).result()) as { verification: { readBack: boolean } };
      assert.equal(result.verification.readBack, true, 'the first backup wrote and verified a tape');
    } finally {
      await connection.close();
    }
    await stop(dev.child);

    dev = startDev([...args, '--no-lab']);
    await dev.printed(/Temporal Web UI:/);
    const again = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const desc = await new Client({ connection: again }).workflow.getHandle(workflowId).describe();
      assert.equal(desc.status.name, 'COMPLETED', 'the run from before the restart is still there');
    } finally {
      await again.close();
    }
  } finally {
    await stop(dev.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

/** True when something accepts a TCP connection on 127.0.0.1:port. */
async function listening(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

test('npm run dev: SIGHUP (the terminal closed) stops the lab, the dev server and itself', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mksysb-dev-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const dev = startDev(['--port', String(port), '--ui-port', String(uiPort), '--data-dir', dataDir]);
  try {
    const labLine = (await dev.printed(/^Lab:.*$/m))[0];
    const sshPorts = [...labLine.matchAll(/ssh port (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(sshPorts.length, 2, labLine);
    // The lab's sshd processes: unshare's children, found through the pids lab.json records.
    const labFile = JSON.parse(fs.readFileSync(path.join(dataDir, 'lab', 'lab.json'), 'utf8')) as { pids: Record<string, number> };
    const pids = Object.values(labFile.pids);
    for (const p of sshPorts) assert.ok(await listening(p), `lab sshd listens on ${p} before the hangup`);
    assert.ok(await listening(port), 'the dev server listens before the hangup');

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => dev.child.once('exit', (code, signal) => r({ code, signal })));
    dev.child.kill('SIGHUP');
    const { code, signal } = await exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `dev stopped by itself on SIGHUP:\n${dev.output()}`);
    assert.match(dev.output(), /stopping worker, lab and Temporal dev server/);
    for (const p of sshPorts) assert.equal(await listening(p), false, `lab sshd on ${p} is gone`);
    // A zombie not yet reaped by init after dev's exit has ended already: read the state, not kill -0.
    const alive = pids.filter((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
      } catch {
        return false;
      }
    });
    assert.deepEqual(alive, [], 'the lab hosts (unshare and the sshd in their namespaces) are gone');
    // dev waits for the dev server to exit before it exits itself.
    assert.equal(await listening(port), false, 'the Temporal dev server is gone');
  } finally {
    await stop(dev.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
