/** Helpers for the lab's tests: OpenSSH clients with the lab's key, Hercules' tape readers. */
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Lab } from '../../lab/index';

export const execFileP = promisify(execFile);

/** Runs a command on a lab host with ssh(1) and asserts exit 0. */
export async function ok(lab: Lab, host: string, command: string): Promise<string> {
  const r = await lab.exec(host, command);
  assert.equal(r.code, 0, `${host}: ${command}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

export function scpArgs(lab: Lab, host: string): string[] {
  const h = lab.host(host);
  return [
    '-q', '-F', '/dev/null', '-i', h.privateKeyPath, '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${path.join(lab.dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-P', String(h.port),
  ];
}

export async function scpFrom(lab: Lab, host: string, remote: string, local: string): Promise<void> {
  await execFileP('scp', [...scpArgs(lab, host), `root@127.0.0.1:${remote}`, local]);
}

export async function scpTo(lab: Lab, host: string, local: string, remote: string): Promise<void> {
  await execFileP('scp', [...scpArgs(lab, host), local, `root@127.0.0.1:${remote}`]);
}

export interface TapemapFile {
  file: number;
  blocks: number;
  minBlock: number;
  maxBlock: number;
}

/** Runs Hercules' tapemap and returns per-file block counts and byte totals. */
export async function tapemap(aws: string): Promise<{ files: TapemapFile[]; raw: string }> {
  const { stdout } = await execFileP('tapemap', [aws], { maxBuffer: 64 << 20 });
  const files: TapemapFile[] = [];
  // tapemap prints "File N: Blocks=B, block size min=X, max=Y" per tape file.
  const re = /File (\d+): Blocks=(\d+), block size min=(\d+), max=(\d+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(stdout))) {
    files.push({ file: Number(m[1]), blocks: Number(m[2]), minBlock: Number(m[3]), maxBlock: Number(m[4]) });
  }
  return { files, raw: stdout };
}

/** Extracts tape file n (1-based) with Hercules' hetget, as undefined-format bytes. */
export async function hetget(aws: string, n: number, outDir: string): Promise<Buffer> {
  const out = path.join(outDir, `file${n}.bin`);
  await execFileP('hetget', ['-n', aws, out, String(n), 'U', '0', '65535']);
  return fs.readFileSync(out);
}

/** Starts a command with ssh(1) and returns the child (for streaming tests). */
export function sshSpawn(lab: Lab, host: string, command: string) {
  return spawn('ssh', [...lab.sshArgs(host), command], { stdio: ['pipe', 'pipe', 'pipe'] });
}
