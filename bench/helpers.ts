/**
 * Bench helpers (no node:test): timing shell commands, OpenSSH command lines for the lab's hosts, staging files
 * straight into a lab host's tree, the worker's activities run in this process, and the machine's description.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Lab } from '../lab/index';

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
export const CIPHER = 'aes128-gcm@openssh.com';

/** Runs a bash script; resolves with its wall time in seconds, rejects on a non-zero exit (with stderr). */
export function timeBash(script: string): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('bash', ['-o', 'pipefail', '-ec', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (code === 0) resolve({ seconds, stdout: out });
      else reject(new Error(`bash exited ${code}: ${err.slice(-2000)}\n--- script:\n${script.slice(0, 2000)}`));
    });
  });
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

/** Single-quotes a word for bash. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `ssh ... HOST` as one bash word list, with the lab's key, pinned host keys and the project's cipher. */
export function sshTo(lab: Lab, host: string): string {
  return ['ssh', '-c', CIPHER, ...lab.sshArgs(host)].map(q).join(' ');
}

/**
 * Gives the tape host OpenSSH access to a source, as a site where the hosts trust each other would have (`lab.trust`:
 * a key and known_hosts in the tape host's tree; the inventory is left alone, so the worker keeps relaying); returns the
 * ssh(1) command line to run on the tape host.
 */
export function directSsh(lab: Lab, tapeHost: string, source: string): string {
  const t = lab.trust(tapeHost, source, { inventory: false });
  return ['ssh', '-c', CIPHER, ...t.options, '-p', String(t.port), t.login].join(' ');
}

/** A file of `bytes` random bytes at PATH inside a host's tree (as that host sees it); returns the real path. */
export async function randomFile(lab: Lab, host: string, file: string, bytes: number): Promise<string> {
  const real = path.join(lab.host(host).root, file);
  fs.mkdirSync(path.dirname(real), { recursive: true });
  const mib = Math.floor(bytes / MiB);
  await timeBash(`head -c ${mib * MiB} /dev/urandom > ${q(real)}; head -c ${bytes - mib * MiB} /dev/urandom >> ${q(real)}`);
  return real;
}

export async function sha256Of(realPath: string): Promise<string> {
  const r = await timeBash(`sha256sum ${q(realPath)}`);
  return r.stdout.split(/\s+/)[0]!;
}

/** Runs an activity function in this process with a real activity Context (heartbeats are recorded, not sent). */
export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 600_000, startToCloseTimeoutMs: 7_200_000 });
  return env.run(fn, ...args);
}

/** Samples this process's resident memory every `ms` while `fn` runs. */
export async function sampleRss<T>(fn: () => Promise<T>, ms = 50): Promise<{ value: T; peak: number; samples: number }> {
  let peak = process.memoryUsage().rss;
  let samples = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
    samples++;
  }, ms);
  try {
    const value = await fn();
    return { value, peak: Math.max(peak, process.memoryUsage().rss), samples };
  } finally {
    clearInterval(timer);
  }
}

export function machine(): { nproc: number; cpu: string; memoryGiB: number; date: string; node: string } {
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  return {
    nproc: os.availableParallelism(),
    cpu,
    memoryGiB: Math.round((os.totalmem() / GiB) * 10) / 10,
    date: new Date().toISOString(),
    node: process.version,
  };
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Busy CPU seconds of the whole machine so far (all cores; idle and iowait left out; steal counted as busy). The
 * first eight fields only: guest time is already counted in user time.
 */
export function machineCpu(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / 100;
}
