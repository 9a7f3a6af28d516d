/**
 * The tape host's side of a backup that spans cartridges (src/tape/volumes.ts): write a continuation volume from the
 * start of its cartridge, read a volume back once for its byte count and SHA-256, hash what it should hold from the
 * staged image, eject a full cartridge, look at a newly loaded one, and wait for an autoloader. Every command that
 * moves or reads the tape runs under the drive's fence (drive-fence.ts), as the record writes do.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { driverFor, images, layout, shell, stagedPath, volumes } from '../tape';
import { cancellationSignal, heartbeat } from './context';
import { cartridgeStatus, reachedEnd, type TapeHostRun } from './drive-checks';
import { ANY_FAILURE, commandFailure, mapSshErrors } from './failures';
import { FencedDrive } from './drive-fence';
import { ownPartialTape } from './tape';
import type { ActivityHosts } from './hosts';
import type { RunPlan } from './types';

/** What a volume should hold after its start: archive bytes [from, from + length) (null: to the end), then padding. */
export interface VolumeSpan {
  volume: number;
  from: number;
  length: number | null;
  padding: number;
}

export interface VolumeWrite {
  volume: number;
  /** The cartridge filled up before the volume's bytes ended (the next volume goes on from what reached it). */
  endOfMedium: boolean;
  reattached: boolean;
}

export interface VolumeMeasure {
  /** Bytes read back from the volume's start (volume 1: record 4's tape file), and their SHA-256. */
  bytes: number;
  sha256: string | null;
  ok: boolean;
  detail?: string;
}

export interface CartridgeLook {
  loaded: boolean;
  /** The first block has data. */
  hasData: boolean;
  /** It starts with this backup's own header for the volume (an earlier attempt wrote it). */
  ownVolume: boolean;
  detail: string;
}

export function volumeActivities(hosts: ActivityHosts) {
  return {
    /** Continuation volume `span.volume` from the start of the loaded cartridge, detached (a retry re-attaches). */
    async writeVolume(plan: RunPlan, span: VolumeSpan, generation: string): Promise<VolumeWrite> {
      const { backup, stagingTape } = plan;
      const bs = layout.blockSizeFor(4, backup.record4BlockSize);
      const header = await stageHeader(hosts, plan, span.volume);
      const name = `write-v${span.volume}-${generation}`;
      const eomFile = volumes.endOfMediumFile(stagingTape, name);
      const drive = await FencedDrive.claim(hosts, plan, { keep: name });
      const content = { ...span, image: stagedPath(stagingTape, 4), header };
      const cmd = drive.detached(name, volumes.endOfMediumIsResult(volumes.writeVolume(driverFor(plan.tapeOs), backup.tape.device, content, bs), eomFile));
      const r = await hosts.runDetached(backup.tape.host, `write volume ${span.volume} to ${backup.tape.host}:${backup.tape.device}`, stagingTape, name, cmd, (elapsedMs) => ({
        stage: 'tape-write',
        record: 4,
        volume: span.volume,
        elapsedMs,
      }));
      return { volume: span.volume, endOfMedium: await reachedEnd(hosts, plan, eomFile), reattached: r.attached };
    },

    /** Reads volume `volume` back once: its bytes (volume 1: record 4's file) and their SHA-256. */
    async measureVolume(plan: RunPlan, volume: number): Promise<VolumeMeasure> {
      const { backup, tapeOs, stagingTape } = plan;
      const driver = driverFor(tapeOs);
      const dev = backup.tape.device;
      const bs = layout.blockSizeFor(4, backup.record4BlockSize);
      const drive = await FencedDrive.claim(hosts, plan);
      const position = volume === 1 ? driver.positionForRecord(dev, 4) : [driver.rewind(dev)];
      const dir = shell.joinPath(stagingTape, `.readback-v${volume}`);
      const res = await drive.run(
        `read back volume ${volume}`,
        shell.and(...driver.setBlockSize(dev, bs), ...position, volumes.measureAtPosition(tapeOs, driver.noRewindDevice(dev), bs, dir)),
        { allowExit: [1, 2] },
      );
      await drive.run('rewind', driver.rewind(dev));
      const sha = images.parseSha256WithStatus(res.stdout);
      const bytes = volumes.parseCount(res.stdout);
      if (!sha.ok || bytes === null) {
        return { bytes: bytes ?? 0, sha256: null, ok: false, detail: `read failed (status ${sha.status}): ${res.stderr.trim().slice(-200)}` };
      }
      return { bytes, sha256: sha.sha256, ok: true };
    },

    /** SHA-256 of what volume `span.volume` should hold after its start, computed from the staged image on the tape host. */
    async expectedVolumeSha(plan: RunPlan, span: VolumeSpan): Promise<string> {
      const { stagingTape } = plan;
      const header = span.volume === 1 ? null : volumes.headerFile(stagingTape, span.volume);
      const content = { ...span, image: stagedPath(stagingTape, 4), header };
      const res = await hosts.run(plan.backup.tape.host, `SHA-256 of volume ${span.volume} from the staged image`, volumes.expectedVolumeSha(plan.tapeOs, content));
      const got = images.parseSha256WithStatus(res.stdout);
      if (!got.ok || !got.sha256) throw ApplicationFailure.retryable(`cannot read the staged image on ${plan.backup.tape.host}`, 'CommandFailed');
      return got.sha256;
    },

    /** Unloads the cartridge (`tctl offline` / `mt offline`), so an operator or the autoloader can load the next. */
    async ejectCartridge(plan: RunPlan): Promise<void> {
      const drive = await FencedDrive.claim(hosts, plan);
      await drive.run(`eject the cartridge in ${plan.backup.tape.host}:${plan.backup.tape.device}`, volumes.eject(plan.tapeOs, plan.backup.tape.device));
    },

    /** Looks at the loaded cartridge before volume `volume` is written on it: loaded, blank, or this backup's own. */
    async inspectCartridge(plan: RunPlan, volume: number): Promise<CartridgeLook> {
      const { backup, tapeOs } = plan;
      const driver = driverFor(tapeOs);
      const dev = backup.tape.device;
      const drive = await FencedDrive.claim(hosts, plan);
      const status = await cartridgeStatus((w, c, o) => drive.run(w, c, o), plan);
      if (!status.loaded) return { loaded: false, hasData: false, ownVolume: false, detail: status.detail };
      await drive.run(`prepare ${backup.tape.host}:${dev}`, shell.and(...driver.prepare(dev)));
      const bs = volume === 1 ? layout.TAPE_BLOCK_SIZE : layout.blockSizeFor(4, backup.record4BlockSize);
      const res = await drive.run(
        `read the start of the cartridge in ${backup.tape.host}:${dev}`,
        shell.and(...driver.setBlockSize(dev, bs), driver.rewind(dev), volumes.readTapeHeader(driver.noRewindDevice(dev), bs)),
        { allowExit: ANY_FAILURE },
      );
      const first = volumes.parseHexDump(res.stdout);
      if (first.length === 0) return { loaded: true, hasData: false, ownVolume: false, detail: 'blank' };
      // Volume 1 is this backup's when its record 1 is this backup's boot image, as a restarted run's blank check finds.
      if (volume === 1) return { loaded: true, hasData: true, ownVolume: await ownPartialTape(hosts, drive, plan), detail: 'volume 1 of a backup' };
      const mine = await headerFor(hosts, plan, volume);
      const own = first.length >= mine.length && mine.every((b, i) => first[i] === b);
      return { loaded: true, hasData: true, ownVolume: own, detail: `its first block starts ${hex(first.subarray(0, 8))}` };
    },

    /** Waits, heartbeating, up to `seconds` for the autoloader to load the next cartridge: true once the drive is ready. */
    async awaitCartridge(plan: RunPlan, seconds: number): Promise<boolean> {
      const until = Date.now() + seconds * 1000;
      const run: TapeHostRun = (w, c, o) => hosts.run(plan.backup.tape.host, w, c, o);
      for (;;) {
        if ((await cartridgeStatus(run, plan)).loaded) return true;
        if (Date.now() >= until) return false;
        heartbeat({ stage: 'tape-write', record: 4 });
        await new Promise((r) => setTimeout(r, 1000));
      }
    },

    /** `lsmksysb -V` on the staged image (AIX tape hosts): a set of several volumes cannot be listed from tape without a terminal. */
    async checkStagedArchive(plan: RunPlan): Promise<{ ok: boolean | null; detail: string }> {
      if (plan.tapeOs !== 'aix') return { ok: null, detail: 'no lsmksysb on this tape host' };
      const file = stagedPath(plan.stagingTape, 4);
      const res = await hosts.run(plan.backup.tape.host, `lsmksysb -V ${file}`, volumes.checkArchiveFile(file), { allowExit: ANY_FAILURE });
      return { ok: res.code === 0, detail: (res.stdout + res.stderr).trim().split('\n').slice(-3).join(' | ').slice(0, 400) };
    },
  };
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Continuation volume `volume`'s header: the staged image's own first 72 bytes with volnum and checksum changed. */
async function headerFor(hosts: ActivityHosts, plan: RunPlan, volume: number): Promise<Uint8Array> {
  const { backup, stagingTape } = plan;
  const image = stagedPath(stagingTape, 4);
  const dump = await hosts.run(backup.tape.host, `read the volume header of ${image}`, volumes.readVolumeHeader(image));
  try {
    return volumes.continuationHeader(volumes.parseHexDump(dump.stdout), volume);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`${image} on ${backup.tape.host}: ${(err as Error).message}`, 'ImageInvalid');
  }
}

/** Writes volume `volume`'s header beside the staged image, sent over the session's stdin (no shell quoting of binary). */
async function stageHeader(hosts: ActivityHosts, plan: RunPlan, volume: number): Promise<string> {
  const header = await headerFor(hosts, plan, volume);
  const file = volumes.headerFile(plan.stagingTape, volume);
  const host = await hosts.host(plan.backup.tape.host);
  const res = await mapSshErrors(() => host.exec(volumes.fileFromStdin(file), { stdin: Buffer.from(header), signal: cancellationSignal() }));
  if (res.code !== 0) throw commandFailure(plan.backup.tape.host, `write ${file}`, res);
  return file;
}
