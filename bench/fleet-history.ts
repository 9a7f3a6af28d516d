/**
 * Fleet history benchmark: the events a `mksysbFleet` run adds per source, how many runs (continue-as-new) a large
 * fleet takes and how long each run's history grows, and the sizes that grow with the fleet (the carry a run hands
 * to the next, the result). The fleet is the project's; its children are stand-ins (bench/fleet-history-workflows.ts)
 * that end after 1-4 s, so that 2,000 sources run on one machine in minutes. test/fleet/fleet-history.test.ts measures the
 * same figures with real backups on the lab.
 *
 *   tsx bench/fleet-history.ts [--sources 2000] [--drives 8] [--per-host N]    writes "## Fleet history" in BENCHMARKS.md
 *
 * The default limit (2 children per drive) keeps the children's ends apart as in a real fleet; a high --per-host
 * makes many end in one workflow task, which the fleet then takes in with fewer events.
 *
 * Starts its own Temporal dev server.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { requireTemporalCli } from '../scripts/temporal-cli';
import { quietLogger } from '../scripts/quiet-logger';
import { fleetActivities } from '../src/activities/fleet';
import { SEARCH_ATTRIBUTES } from '../src/shared/search-attributes';
import type { FleetResult } from '../src/shared/fleet';
import { DEFAULT_MAX_HISTORY_EVENTS } from '../src/workflows/fleet';
import { writeSection } from './fleet';

/** Temporal's limits on one run: the server warns at this many events, warns of payloads above 512 KiB and refuses them above 2 MiB. */
const WARN_EVENTS = 10_240;
const PAYLOAD_WARN = 512 * 2 ** 10;
const PAYLOAD_LIMIT = 2 * 2 ** 20;

export interface FleetHistoryFigures {
  sources: number;
  drives: number;
  /** Running children at most (the fleet's per-tape-host limit). */
  perTapeHost: number;
  seconds: number;
  runs: number;
  eventsPerRun: number[];
  totalEvents: number;
  eventsPerSource: number;
  /** Sources one run holds under WARN_EVENTS (what a fleet without continue-as-new could take). */
  oneRunSources: number;
  largestCarryBytes: number;
  resultBytes: number;
  /** Sources whose result (the largest payload, every source's entry) stays under PAYLOAD_WARN, and PAYLOAD_LIMIT. */
  resultWarnSources: number;
  resultLimitSources: number;
}

/** A fleet of `sources` stand-in backups on `drives` drives; its runs' histories, read back event by event. */
export async function runFleetHistoryBench(opts: { sources?: number; drives?: number; perTapeHost?: number; log?: (m: string) => void } = {}): Promise<FleetHistoryFigures> {
  const log = opts.log ?? (() => {});
  const nSources = opts.sources ?? 2000;
  const nDrives = opts.drives ?? 8;
  const perTapeHost = opts.perTapeHost;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-history-'));
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: requireTemporalCli().path }, searchAttributes: [...SEARCH_ATTRIBUTES] },
  });
  const connection = await Connection.connect({ address: env.address });
  const native = await NativeConnection.connect({ address: env.address });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const sources = Array.from({ length: nSources }, (_, i) => `aix${String(i + 1).padStart(4, '0')}`);
    const inventoryPath = path.join(tmp, 'inventory.json');
    fs.writeFileSync(inventoryPath, JSON.stringify(inventory(sources, nDrives)));
    const taskQueue = `bench-fleet-history-${process.pid}`;
    log('bundling workflows');
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./fleet-history-workflows'), logger: quietLogger });
    const worker = await Worker.create({
      connection: native,
      taskQueue,
      workflowBundle: { code: bundle.code },
      activities: fleetActivities({ inventoryPath, client }),
      maxConcurrentWorkflowTaskExecutions: 40,
    });
    return await worker.runUntil(async () => {
      log(`fleet: ${nSources} stand-in sources on ${nDrives} drives`);
      const handle = await client.workflow.start('mksysbFleet', {
        taskQueue,
        workflowId: `mksysb-fleet/history-bench-${Date.now()}`,
        args: [{ sources, drives: inventoryDrives(nDrives), ...(perTapeHost ? { maxConcurrentMksysbPerTapeHost: perTapeHost } : {}) }],
      });
      const result = (await handle.result()) as FleetResult;
      if (result.ok !== nSources) throw new Error(`${result.failed} stand-in children failed`);
      const runs = await runsOf(client, handle.workflowId, handle.firstExecutionRunId);
      const totalEvents = runs.reduce((n, r) => n + r.events, 0);
      const eventsPerSource = totalEvents / nSources;
      const resultBytes = Buffer.byteLength(JSON.stringify(result));
      return {
        sources: nSources,
        drives: nDrives,
        perTapeHost: result.limits.perTapeHost.tapesrv ?? 0,
        seconds: result.seconds,
        runs: runs.length,
        eventsPerRun: runs.map((r) => r.events),
        totalEvents,
        eventsPerSource: round(eventsPerSource),
        oneRunSources: Math.floor(WARN_EVENTS / eventsPerSource),
        largestCarryBytes: Math.max(...runs.map((r) => r.inputBytes)),
        resultBytes,
        resultWarnSources: Math.floor(PAYLOAD_WARN / (resultBytes / nSources)),
        resultLimitSources: Math.floor(PAYLOAD_LIMIT / (resultBytes / nSources)),
      };
    });
  } finally {
    await native.close();
    await connection.close();
    await env.teardown();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Every run of the fleet, first to last, following each run's continue-as-new event. */
async function runsOf(client: Client, workflowId: string, firstRunId: string): Promise<Array<{ events: number; inputBytes: number }>> {
  const out: Array<{ events: number; inputBytes: number }> = [];
  for (let runId: string | undefined = firstRunId; runId; ) {
    const history: temporal.api.history.v1.IHistory = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    out.push({ events: events.length, inputBytes: input.reduce((n, p) => n + (p.data?.length ?? 0), 0) });
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return out;
}

const inventoryDrives = (n: number) => Array.from({ length: n }, (_, i) => ({ host: 'tapesrv', device: `rmt${i}` }));

/** Inventory entries that resolveFleet accepts; nothing connects to them (the children are stand-ins). */
function inventory(sources: string[], drives: number): unknown {
  const host = {
    address: '127.0.0.1',
    user: 'root',
    key: { agent: '/run/ssh-agent.sock' },
    hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnddLgXB3hsSbMzFNOr4moMSjpgUr+cN1Al',
    workFolder: '/home/mksysb',
    os: 'aix',
  };
  const hosts: Record<string, unknown> = Object.fromEntries(sources.map((s) => [s, { ...host, role: 'source' }]));
  hosts.tapesrv = { ...host, role: 'tape', devices: Object.fromEntries(inventoryDrives(drives).map((d) => [d.device, {}])) };
  return { hosts };
}

const round = (n: number) => Math.round(n * 100) / 100;

export function fleetHistoryMarkdown(f: FleetHistoryFigures): string {
  const cpu = (() => {
    try {
      return /Model name:\s*(.*)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1]?.trim() ?? os.cpus()[0]?.model;
    } catch {
      return os.cpus()[0]?.model;
    }
  })();
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  const num = (n: number) => n.toLocaleString('en-US');
  return [
    '## Fleet history',
    '',
    `${new Date().toISOString().slice(0, 10)}; ${os.cpus().length} × ${cpu}; \`tsx bench/fleet-history.ts --sources ${f.sources}\`. ` +
      `One \`mksysbFleet\` of ${num(f.sources)} sources on ${f.drives} drives (at most ${f.perTapeHost} running at once), continue-as-new ` +
      `at the default ${num(DEFAULT_MAX_HISTORY_EVENTS)} events (or when Temporal suggests it); its children are stand-ins that end ` +
      `after 1-4 s (bench/fleet-history-workflows.ts), which give the fleet the events of real backups. ${f.seconds.toFixed(0)} s.`,
    '',
    '| figure | value |',
    '|---|---:|',
    `| events per source (all runs' events / sources) | **${f.eventsPerSource.toFixed(2)}** |`,
    `| runs (continued as new ${f.runs - 1} times) | ${f.runs} |`,
    `| events per run | ${f.eventsPerRun.map(num).join('; ')} |`,
    `| longest run | ${num(Math.max(...f.eventsPerRun))} (Temporal warns at ${num(WARN_EVENTS)}, fails at 51,200) |`,
    `| sources one run holds under ${num(WARN_EVENTS)} events at this rate (a fleet that never continued as new) | ${num(f.oneRunSources)} |`,
    `| largest carry (the input a run hands to the next: every source's entry, packed) | ${kib(f.largestCarryBytes)} (${(f.largestCarryBytes / f.sources).toFixed(0)} bytes per source) |`,
    `| result (every source's entry) | ${kib(f.resultBytes)} (${(f.resultBytes / f.sources).toFixed(0)} bytes per source) |`,
    `| sources whose result stays under Temporal's payload warning (512 KiB) / limit (2 MiB) | ${num(f.resultWarnSources)} / ${num(f.resultLimitSources)} |`,
    '',
    'With continue-as-new no run grows past the bound whatever the number of sources or the time a child waits (the ' +
      'fleet adds no event while its children run: test/fleet/fleet-history.test.ts checks that with a child waiting ' +
      'for an operator). What bounds a fleet now is its result, which lists every source in one payload.',
    '',
  ].join('\n');
}

if (require.main === module) {
  const arg = (name: string): number | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  Runtime.install({ logger: new DefaultLogger('WARN') });
  runFleetHistoryBench({ sources: arg('sources'), drives: arg('drives'), perTapeHost: arg('per-host'), log: (m) => console.log(m) }).then(
    (figures) => {
      console.log(JSON.stringify(figures, null, 2));
      writeSection('Fleet history', fleetHistoryMarkdown(figures));
      console.log('BENCHMARKS.md: ## Fleet history written');
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
