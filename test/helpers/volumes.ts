/**
 * Multi-volume sets in workflow tests: waiting for a run to ask for a cartridge, and reading a finished set back with
 * Hercules' tools, checking each continuation header against AIX-TAPE.md's rule with a checksum computed here.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { BackupProgress } from '../../src/shared/contract';
import { hetget, tapemap } from '../lab/helpers';
import { padTo, sha256, waitFor, type BackupEnv } from './backup';

/** Resolves with the run's progress once it waits for the cartridge of `volume`. */
export async function cartridgeWanted(handle: WorkflowHandle, volume: number): Promise<BackupProgress> {
  let last: BackupProgress | undefined;
  try {
    return await waitFor(
      `the run to ask for the cartridge of volume ${volume}`,
      async () => {
        last = await handle.query<BackupProgress>('progress');
        return last.waiting?.for === 'cartridge' && last.waiting.volume === volume ? last : undefined;
      },
    );
  } catch (err) {
    // What the run did instead is the first thing to know when it never asks.
    throw new Error(`${(err as Error).message}; the run's progress: ${JSON.stringify(last)}`);
  }
}

/** The checksum as AIX-TAPE.md states it: with the field zeroed, the sum of c << (c & 7) over every byte, 16 bits. */
export function aixChecksum(h: Buffer): number {
  let sum = 0;
  h.forEach((c, i) => {
    const b = i === 4 || i === 5 ? 0 : c;
    sum += b << (b & 7);
  });
  return sum & 0xffff;
}

/**
 * Reads every cartridge of a set with tapemap and hetget: volume 1 has the 4 files, each further volume one; each
 * continuation volume starts with the archive's first header with volnum = its number and a checksum by the rule; and
 * volume 1's record 4 followed by the others less their 72 bytes is the staged mksysb image (then only NUL padding,
 * less than one block).
 */
export async function assertSet(env: BackupEnv, cartridges: string[], img: { boot: Buffer; install: Buffer; mksysb: Buffer }, opts: { host?: string; device?: string } = {}): Promise<void> {
  const host = opts.host ?? 'tapesrv';
  const device = opts.device ?? 'rmt0';
  const all = env.lab.cartridges(host, device);
  const parts: Buffer[] = [];
  for (const [i, name] of cartridges.entries()) {
    const c = all.find((x) => x.name === name);
    assert.ok(c, `cartridge ${name} is in the library`);
    const out = fs.mkdtempSync(path.join(env.tmp, `vol${i + 1}-`));
    const map = await tapemap(c.aws);
    if (i === 0) {
      assert.equal(map.files.length, 4, `volume 1 holds 4 tape files: ${map.raw}`);
      const files = await Promise.all([1, 2, 3, 4].map((n) => hetget(c.aws, n, fs.mkdtempSync(path.join(out, `f${n}-`)))));
      assert.ok(files[0]!.equals(padTo(img.boot, 512)), 'record 1 is the boot image padded to 512');
      assert.ok(files[1]!.equals(img.install), 'record 2 is the install image');
      assert.ok(files[2]!.equals(padTo(Buffer.from('Dummy tape TOC\n'), 512)), 'record 3 is the dummy TOC');
      parts.push(files[3]!);
      continue;
    }
    assert.equal(map.files.length, 1, `volume ${i + 1} holds one tape file: ${map.raw}`);
    const file = await hetget(c.aws, 1, out);
    const header = file.subarray(0, 72);
    assert.equal(header.readUInt16LE(6), i + 1, `volume ${i + 1}'s header has volnum ${i + 1}`);
    assert.equal(header.readUInt16LE(4), aixChecksum(header), `volume ${i + 1}'s header checksum follows the rule`);
    const first = Buffer.from(img.mksysb.subarray(0, 72));
    for (let b = 0; b < 72; b++) if (b < 4 || b > 7) assert.equal(header[b], first[b], `volume ${i + 1} header byte ${b} is the archive's`);
    parts.push(file.subarray(72));
  }
  const archive = Buffer.concat(parts);
  assert.ok(archive.length >= img.mksysb.length, `the set holds ${archive.length} archive bytes, the image ${img.mksysb.length}`);
  assert.equal(sha256(archive.subarray(0, img.mksysb.length)), sha256(img.mksysb), 'the set is the staged mksysb image byte for byte');
  const tail = archive.subarray(img.mksysb.length);
  assert.ok(tail.length < 512 * 128 && tail.every((b) => b === 0), `after the image only NUL padding (${tail.length} bytes)`);
}

/** A lab with one tape host of one drive whose cartridges hold `capacityBytes`. */
export const oneTape = (capacityBytes: number, os: 'aix' | 'linux' = 'aix', name = 'tapesrv') => ({ tapeHosts: [{ name, os, drives: 1, capacityBytes }] });

/** Loads a blank cartridge (of `capacityBytes`, default the drive's) and tells the run; returns its name. */
export async function loadAndAnswer(env: BackupEnv, handle: Awaited<ReturnType<BackupEnv['start']>>, volume: number, opts: { capacityBytes?: number; host?: string; device?: string } = {}): Promise<string> {
  await cartridgeWanted(handle, volume);
  const c = env.lab.load(opts.host ?? 'tapesrv', opts.device ?? 'rmt0', opts.capacityBytes ? { capacityBytes: opts.capacityBytes } : {});
  await handle.signal('volumeLoaded', { volume });
  return c.name;
}

/** Each dd write to the drive in order: its tape file and how it ended (`ok`, or the errno the drive gave). */
export async function writeErrors(env: BackupEnv): Promise<Array<[number, string]>> {
  const log = await env.lab.commandLog('tapesrv');
  return log
    .filter((e) => e.command === 'dd' && (e.tape as { op?: string } | undefined)?.op === 'write')
    .map((e) => {
      const t = e.tape as { file: number; error?: string };
      return [t.file, e.exit === 0 ? 'ok' : (t.error ?? `exit ${e.exit}`)];
    });
}

/** Changes a device's entry in the lab's inventory (the worker re-reads it). */
export function setDrive(env: BackupEnv, host: string, device: string, extra: Record<string, unknown>): void {
  const inv = JSON.parse(fs.readFileSync(env.lab.inventoryPath, 'utf8')) as { hosts: Record<string, { devices?: Record<string, object> }> };
  const h = inv.hosts[host]!;
  h.devices = { ...h.devices, [device]: { ...h.devices?.[device], ...extra } };
  fs.writeFileSync(env.lab.inventoryPath, JSON.stringify(inv, null, 2) + '\n');
}
