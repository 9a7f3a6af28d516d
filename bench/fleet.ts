/**
 * Fleet benchmark: two nights of one fleet (many lab sources, a few drives), one after the other on the same lab.
 * The first night writes every tape after mksysb; it also makes every source's size known. The second night asks for
 * `writeWhileMksysb`, which the fleet gives to each child that starts alone on its drive with its size known
 * (src/workflows/fleet-board.ts, holdThroughMksysb). The makespans are judged against one bound: max(drive-held time
 * of the first night / drives, the night's longest single backup). The drive-held time (tape preparation + write +
 * verification, what the drive lock serialises) comes from the first night: a streamed child holds its drive through
 * its mksysb too, which is not drive work.
 *
 *   tsx bench/fleet.ts [--sources 16] [--drives 4] [--mib 64] [--timeline N]
 *                                                                  runs it alone and writes "## Fleet" in BENCHMARKS.md;
 *                                                                  --timeline logs the first N children's activities
 *   import { runFleetBench } from './fleet'                         (bench/run.ts)
 *
 * Starts its own Temporal dev server (or uses `address`), its own lab and a project worker.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import { startLab } from '../lab/index';
import { loadConfig } from '../temporal.config';
import { requireTemporalCli } from '../scripts/temporal-cli';
import { SEARCH_ATTRIBUTES } from '../src/shared/search-attributes';
import { WORKFLOWS_PATH, createWorker } from '../src/worker';
import type { BackupResult } from '../src/shared/contract';
import type { FleetResult } from '../src/shared/fleet';
import { driveLockStateQuery, driveLockWorkflowId } from '../src/shared/drive-lock';
import { quietLogger } from '../scripts/quiet-logger';
import { machineCpu } from './helpers';
import { activityTimeline, formatTimeline } from './timeline';

export interface FleetBenchOptions {
  sources?: number;
  drives?: number;
  /** Size of each source's mksysb image. Default 32 MiB. */
  mksysbBytes?: number;
  /** Rate of the lab's mksysb double. Default 32 MiB/s. */
  mksysbBytesPerSecond?: number;
  /** Simulated drive speed (the lab's dd on the tape host). Default 16 MiB/s. */
  tapeBytesPerSecond?: number;
  maxConcurrentMksysbPerTapeHost?: number;
  /** An existing Temporal server; default: a dev server of its own. */
  address?: string;
  /** Log the activity timeline of the first this many children of each night (where the start's seconds go). */
  timeline?: number;
  log?: (msg: string) => void;
}

/** One night of the fleet. */
export interface NightFigures {
  ok: number;
  failed: number;
  makespanSeconds: number;
  /** Sum over backups of tape-write seconds. */
  totalTapeWriteSeconds: number;
  /** Sum over backups of tape-prepare + tape-write + verify seconds. */
  totalDriveHeldSeconds: number;
  longestBackupSeconds: number;
  /** Children whose record 4 was streamed while mksysb ran. */
  streamed: number;
  /** Where each drive's share of the makespan went, averaged over the drives (from the drive locks' tenures). */
  idle: DriveIdle;
  /**
   * Busy CPU seconds of the whole machine during the night: the lab's sources, tape host and drives, the worker and
   * Temporal all share it, so busy seconds / cores bounds the makespan below on this machine, whatever the schedule.
   */
  cpuBusySeconds: number;
}

export interface FleetBenchFigures {
  sources: number;
  drives: number;
  mksysbBytes: number;
  mksysbBytesPerSecond: number;
  tapeBytesPerSecond: number;
  perTapeHostLimit: number;
  /** The first night: every tape after mksysb. */
  plain: NightFigures;
  /** The second night: `writeWhileMksysb` asked for, sizes known from the first. */
  stream: NightFigures;
  /** The second night's makespan (the figure judged). */
  makespanSeconds: number;
  /** The first night's drive-held time / drives. */
  driveHeldBoundSeconds: number;
  /** The second night's longest single backup. */
  longestBackupSeconds: number;
  /** max(driveHeldBoundSeconds, longestBackupSeconds) */
  boundSeconds: number;
  /** makespan / bound: the figure the fleet's schedule is judged by */
  ratio: number;
  /** The first night's makespan / max(its drive-held time / drives, its longest backup). */
  plainRatio: number;
  /** The first night's total tape write time / drives, and the second night's makespan / it. */
  lowerBoundSeconds: number;
  writeRatio: number;
}

export interface DriveIdle {
  /** Granted to a backup (the lock's tenures: what the drive-held time measures, plus the lock's own round trips). */
  heldSeconds: number;
  /** From the fleet's start to the drive's first grant. */
  beforeFirstSeconds: number;
  /** Between one backup's release and the next one's grant, summed. */
  betweenSeconds: number;
  /** From the drive's last release to the fleet's end. */
  afterLastSeconds: number;
  tenures: number;
}

/**
 * The drives' time from their locks' tenures (`recent`, granted and released in each lock's workflow time) against
 * the fleet's own start and close, averaged over the drives.
 */
async function driveIdle(client: Client, fleet: { start: number; end: number }, drives: { host: string; device: string }[], taskQueue: string): Promise<DriveIdle> {
  const { start, end } = fleet;
  const sum: DriveIdle = { heldSeconds: 0, beforeFirstSeconds: 0, betweenSeconds: 0, afterLastSeconds: 0, tenures: 0 };
  for (const d of drives) {
    const state = await client.workflow.getHandle(driveLockWorkflowId(d, taskQueue)).query(driveLockStateQuery);
    const ts = state.recent
      .map((t) => ({ from: Date.parse(t.grantedAt), to: Date.parse(t.releasedAt) }))
      .filter((t) => t.from >= start)
      .sort((a, b) => a.from - b.from);
    if (ts.length === 0) continue;
    sum.tenures += ts.length;
    sum.beforeFirstSeconds += (ts[0]!.from - start) / 1000;
    sum.afterLastSeconds += (end - ts[ts.length - 1]!.to) / 1000;
    ts.forEach((t, i) => {
      sum.heldSeconds += (t.to - t.from) / 1000;
      if (i > 0) sum.betweenSeconds += (t.from - ts[i - 1]!.to) / 1000;
    });
  }
  const n = drives.length;
  return {
    heldSeconds: round(sum.heldSeconds / n),
    beforeFirstSeconds: round(sum.beforeFirstSeconds / n),
    betweenSeconds: round(sum.betweenSeconds / n),
    afterLastSeconds: round(sum.afterLastSeconds / n),
    tenures: sum.tenures,
  };
}

interface NightFleet {
  client: Client;
  taskQueue: string;
  drives: { host: string; device: string }[];
  sources: string[];
  maxConcurrentMksysbPerTapeHost?: number;
  timeline?: number;
  log: (msg: string) => void;
}

/** One night: the fleet run to its end, and what its children's results and the drive locks say of it. */
async function runNight(fleet: NightFleet, name: string, backupInput: Record<string, unknown>): Promise<{ figures: NightFigures; perTapeHostLimit: number }> {
  const { client, taskQueue, drives, sources } = fleet;
  fleet.log(`fleet, ${name} night: ${sources.length} sources on ${drives.length} drives`);
  const fleetId = `mksysb-fleet/bench-${name}-${Date.now()}`;
  const cpu0 = machineCpu();
  const result = (await client.workflow.execute('mksysbFleet', {
    taskQueue,
    workflowId: fleetId,
    args: [
      {
        sources,
        drives,
        ...(fleet.maxConcurrentMksysbPerTapeHost ? { maxConcurrentMksysbPerTapeHost: fleet.maxConcurrentMksysbPerTapeHost } : {}),
        backupInput,
      },
    ],
  })) as FleetResult;
  const cpuBusySeconds = round(machineCpu() - cpu0);
  const children = (await Promise.all(
    result.results.filter((r) => r.state === 'ok').map((r) => client.workflow.getHandle(r.workflowId).result()),
  )) as BackupResult[];
  const sum = (f: (r: BackupResult) => number) => children.reduce((n, r) => n + f(r), 0);
  const described = await client.workflow.getHandle(fleetId).describe();
  const times = { start: described.startTime.getTime(), end: (described.closeTime ?? new Date()).getTime() };
  if (fleet.timeline) {
    fleet.log(formatTimeline(`${name} night: the fleet`, await activityTimeline(client, fleetId, times.start)));
    for (const r of result.results.slice(0, fleet.timeline)) {
      fleet.log(formatTimeline(`${name} night: ${r.source} on ${r.drive?.device}`, await activityTimeline(client, r.workflowId, times.start)));
    }
  }
  return {
    perTapeHostLimit: result.limits.perTapeHost.tapesrv ?? 0,
    figures: {
      ok: result.ok,
      failed: result.failed,
      makespanSeconds: result.seconds,
      totalTapeWriteSeconds: round(sum((r) => r.durations['tape-write'] ?? 0)),
      totalDriveHeldSeconds: round(sum((r) => (r.durations['tape-prepare'] ?? 0) + (r.durations['tape-write'] ?? 0) + (r.durations.verify ?? 0))),
      longestBackupSeconds: Math.max(...result.results.map((r) => r.seconds ?? 0)),
      streamed: children.filter((r) => r.stream?.streamed).length,
      idle: await driveIdle(client, times, drives, taskQueue),
      cpuBusySeconds,
    },
  };
}

export async function runFleetBench(opts: FleetBenchOptions = {}): Promise<{ figures: FleetBenchFigures; markdown: string }> {
  const log = opts.log ?? (() => {});
  const nSources = opts.sources ?? 16;
  const nDrives = opts.drives ?? 4;
  const mksysbBytes = opts.mksysbBytes ?? 64 << 20;
  const mksysbRate = opts.mksysbBytesPerSecond ?? 32 << 20;
  const tapeRate = opts.tapeBytesPerSecond ?? 16 << 20;
  let env: TestWorkflowEnvironment | undefined;
  let address = opts.address;
  if (!address) {
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: requireTemporalCli().path }, searchAttributes: [...SEARCH_ATTRIBUTES] },
    });
    address = env.address;
  }
  const lab = await startLab({
    sources: nSources,
    tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: nDrives }],
    mksysbBytes,
    mksysbBytesPerSecond: mksysbRate,
  });
  await lab.setHostConfig('tapesrv', { tapeBytesPerSecond: tapeRate });
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const config = {
      ...loadConfig({ TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default' }),
      taskQueue: `bench-fleet-${process.pid}-${Date.now()}`,
      inventoryPath: lab.inventoryPath,
    };
    log('bundling workflows');
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
    const worker = await createWorker({
      config,
      connection: native,
      workflowBundle: { code: bundle.code },
      activityDeps: { pollIntervalMs: 250, temporalClient: client },
    });
    const running = worker.run();
    try {
      const drives = Array.from({ length: nDrives }, (_, i) => ({ host: 'tapesrv', device: `rmt${i}` }));
      const sources = lab.hosts.filter((h) => h.role === 'source').map((h) => h.name);
      const fleet = { client, taskQueue: config.taskQueue, drives, sources, log, timeline: opts.timeline, ...(opts.maxConcurrentMksysbPerTapeHost ? { maxConcurrentMksysbPerTapeHost: opts.maxConcurrentMksysbPerTapeHost } : {}) };
      const { figures: plain, perTapeHostLimit } = await runNight(fleet, 'plain', { overwrite: true });
      const { figures: stream } = await runNight(fleet, 'stream', { overwrite: true, writeWhileMksysb: true });
      const held = plain.totalDriveHeldSeconds / nDrives;
      const bound = Math.max(held, stream.longestBackupSeconds);
      const figures: FleetBenchFigures = {
        sources: sources.length,
        drives: nDrives,
        mksysbBytes,
        mksysbBytesPerSecond: mksysbRate,
        tapeBytesPerSecond: tapeRate,
        perTapeHostLimit,
        plain,
        stream,
        makespanSeconds: stream.makespanSeconds,
        driveHeldBoundSeconds: round(held),
        longestBackupSeconds: stream.longestBackupSeconds,
        boundSeconds: round(bound),
        ratio: round(stream.makespanSeconds / bound),
        plainRatio: round(plain.makespanSeconds / Math.max(held, plain.longestBackupSeconds)),
        lowerBoundSeconds: round(plain.totalTapeWriteSeconds / nDrives),
        writeRatio: round(stream.makespanSeconds / (plain.totalTapeWriteSeconds / nDrives)),
      };
      return { figures, markdown: fleetMarkdown(figures) };
    } finally {
      worker.shutdown();
      await running;
    }
  } finally {
    await native.close();
    await connection.close();
    await lab.down();
    await env?.teardown();
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

export function fleetMarkdown(f: FleetBenchFigures): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const cores = os.cpus().length;
  const cpuBound = (n: NightFigures) => `${(n.cpuBusySeconds / cores).toFixed(1)} (${Math.round((100 * n.cpuBusySeconds) / cores / n.makespanSeconds)} %)`;
  const idle = (n: NightFigures) =>
    `held by a backup ${n.idle.heldSeconds.toFixed(1)} s; idle before its first grant ${n.idle.beforeFirstSeconds.toFixed(1)} s, ` +
    `between a release and the next grant ${n.idle.betweenSeconds.toFixed(1)} s, after its last release ${n.idle.afterLastSeconds.toFixed(1)} s ` +
    `(${n.idle.tenures} tenures)`;
  return [
    '## Fleet',
    '',
    `${f.sources} lab sources, mksysb image ${(f.mksysbBytes / 2 ** 20).toFixed(0)} MiB each (made at ` +
      `${(f.mksysbBytesPerSecond / 2 ** 20).toFixed(0)} MiB/s), ${f.drives} drives on one tape host writing at ` +
      `${(f.tapeBytesPerSecond / 2 ** 20).toFixed(0)} MiB/s (the lab's simulated drive speed) ` +
      `(at most ${f.perTapeHostLimit} backups running at once). Two nights one after the other: the first writes every ` +
      `tape after mksysb (${f.plain.ok} ok, ${f.plain.failed} failed); the second asks for \`writeWhileMksysb\`, which the ` +
      `fleet gives to a child that starts alone on its drive with its size known from the first night ` +
      `(${f.stream.streamed} of ${f.stream.ok} streamed; ${f.stream.failed} failed). ` +
      `One machine (${os.cpus().length} × ${cpu}), ${new Date().toISOString().slice(0, 10)}; \`tsx bench/fleet.ts\`.`,
    '',
    '| figure | first night (tape after mksysb) | second night (`writeWhileMksysb`) |',
    '|---|---:|---:|',
    `| makespan (fleet start to end), s | ${f.plain.makespanSeconds.toFixed(1)} | ${f.stream.makespanSeconds.toFixed(1)} |`,
    `| drive-held time (prepare + write + verify) / ${f.drives} drives, s | ${(f.plain.totalDriveHeldSeconds / f.drives).toFixed(1)} | (a streamed child also holds its drive through its mksysb: not drive work) |`,
    `| longest single backup (images, transfer, tape), s | ${f.plain.longestBackupSeconds.toFixed(1)} | ${f.stream.longestBackupSeconds.toFixed(1)} |`,
    `| **makespan / max(first night's drive-held time / drives, the night's longest backup)** (target ≤ 1.15) | ${f.plainRatio.toFixed(2)} | **${f.ratio.toFixed(2)}** |`,
    `| total tape write time / drives (first night: ${f.lowerBoundSeconds.toFixed(1)} s), and makespan / it | ${(f.plain.makespanSeconds / f.lowerBoundSeconds).toFixed(2)} | ${f.writeRatio.toFixed(2)} |`,
    `| the machine's busy CPU time / ${cores} cores, s (share of the makespan) | ${cpuBound(f.plain)} | ${cpuBound(f.stream)} |`,
    '',
    `Where a drive's makespan went, on average over the ${f.drives} drives (their locks' tenures):`,
    '',
    `- first night: ${idle(f.plain)};`,
    `- second night: ${idle(f.stream)}.`,
    '',
    'The drive is held longer than it writes: preparation, positioning before each record and the read-back ' +
      'verification (each a few SSH commands, and a read of the whole cartridge) also need it, so the drive-held time ' +
      'per drive is the bound the schedule can reach; the makespan is also bounded below by the longest single backup. ' +
      `In the lab a third bound holds: the ${f.sources} sources, the tape host with its drives, the worker and Temporal share ` +
      "this machine's cores, so a night takes at least its busy CPU time / cores, whatever the schedule (on an estate " +
      'each source makes its mksysb on its own CPU).',
    '',
  ].join('\n');
}

/** Replaces the `## Fleet` section of BENCHMARKS.md, or appends it. */
export function writeFleetSection(markdown: string, file?: string): void {
  writeSection('Fleet', markdown, file);
}

/** Where the `## <heading>` section of a Markdown text starts and ends (up to the next `## ` or the end), if it is there. */
export function findSection(text: string, heading: string): { start: number; end: number } | undefined {
  const start = text.search(new RegExp(`^## ${heading}\\s*$`, 'm'));
  if (start < 0) return undefined;
  const next = text.slice(start + 1).search(/^## /m);
  return { start, end: next < 0 ? text.length : start + 1 + next };
}

/** Replaces the `## <heading>` section of BENCHMARKS.md (up to the next `## `), or appends it. */
export function writeSection(heading: string, markdown: string, file = path.join(__dirname, '..', 'BENCHMARKS.md')): void {
  const cur = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  const at = findSection(cur, heading);
  const next = at ? `${cur.slice(0, at.start)}${markdown}${at.end < cur.length ? `\n${cur.slice(at.end)}` : ''}` : `${cur.replace(/\s*$/, '\n\n')}${markdown}`;
  fs.writeFileSync(file, next.replace(/\n{3,}/g, '\n\n'));
}

if (require.main === module) {
  const arg = (name: string): number | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const mib = arg('mib');
  runFleetBench({
    sources: arg('sources'),
    drives: arg('drives'),
    ...(mib ? { mksysbBytes: mib * 2 ** 20 } : {}),
    timeline: arg('timeline'),
    log: (m) => console.log(m),
  }).then(
    ({ figures, markdown }) => {
      console.log(JSON.stringify(figures, null, 2));
      writeFleetSection(markdown);
      console.log('BENCHMARKS.md: ## Fleet written');
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
