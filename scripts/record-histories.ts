/**
 * `npm run record-histories [-- SITUATION...]`: records again the histories that test/replay/replay.test.ts replays.
 * Starts a Temporal dev server of its own (the CLI that scripts/temporal-cli.ts finds, the project's search
 * attributes, updates on), a lab (4 sources, tapesrv with 4 drives) and the project's worker on the production task
 * queue name, drives each situation of test/replay/situations.ts (all, or those named), and writes each run's history
 * to test/replay/histories/<name>.json and the list of them, each with the commit it was recorded against, to
 * manifest.json. Naming situations re-records only those and keeps the other entries.
 *
 * When to re-record, and when not: see docs/development.md, "Replay tests".
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import { startLab } from '../lab';
import { MksysbTapeClient } from '../src/client';
import { DEFAULT_POLICIES, type StagePolicies } from '../src/shared/policies';
import { SEARCH_ATTRIBUTES } from '../src/shared/search-attributes';
import { DEFAULT_TASK_QUEUE } from '../src/shared/drive-lock';
import { WORKFLOWS_PATH, createWorker } from '../src/worker';
import { loadConfig } from '../temporal.config';
import { historyToJson } from '../test/replay/history-json';
import { HISTORIES_DIR, MANIFEST_PATH, readManifest, type Manifest, type RecordedHistory } from '../test/replay/histories';
import { SITUATIONS, type SituationContext } from '../test/replay/situations';
import { quietLogger } from './quiet-logger';
import { requireTemporalCli } from './temporal-cli';

const root = path.resolve(__dirname, '..');

/** Quick retries and short heartbeat timeouts, as the tests use, so that each situation takes seconds. */
function quickPolicies(): StagePolicies {
  const out = {} as StagePolicies;
  for (const [k, p] of Object.entries(DEFAULT_POLICIES) as [keyof StagePolicies, StagePolicies['write']][]) {
    out[k] = { ...p, ...(p.heartbeatTimeout ? { heartbeatTimeout: '6s' } : {}), initialInterval: '200ms', maximumInterval: '1s' };
  }
  return out;
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
}

function sdkVersion(): string {
  return (JSON.parse(fs.readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !SITUATIONS.some((s) => s.name === w));
  if (unknown.length) throw new Error(`unknown situation(s) ${unknown.join(', ')}; known: ${SITUATIONS.map((s) => s.name).join(', ')}`);
  const situations = wanted.length ? SITUATIONS.filter((s) => wanted.includes(s.name)) : SITUATIONS;

  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireTemporalCli().path },
      ip: '127.0.0.1',
      searchAttributes: [...SEARCH_ATTRIBUTES],
      extraArgs: ['--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true'],
    },
  });
  const lab = await startLab({ sources: 4, tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: 4 }], mksysbBytes: 3 << 20 });
  const connection = await Connection.connect({ address: env.address });
  const nativeConnection = await NativeConnection.connect({ address: env.address });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const config = {
      ...loadConfig({ TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' }),
      taskQueue: DEFAULT_TASK_QUEUE,
      inventoryPath: lab.inventoryPath,
      policies: quickPolicies(),
      pollIntervalMs: 200,
    };
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
    const worker = await createWorker({ config, connection: nativeConnection, workflowBundle: { code: bundle.code } });
    const api = await MksysbTapeClient.connect({ client, config });
    const recorded: RecordedHistory[] = [];
    const recording = {
      recordedAt: new Date().toISOString(),
      commit: git('rev-parse', 'HEAD'),
      workflowCodeChanged: git('status', '--porcelain', '--', 'src/workflows', 'src/shared').length > 0,
      sdkVersion: sdkVersion(),
    };
    let situation = '';
    const ctx: SituationContext = {
      client,
      api,
      lab,
      taskQueue: config.taskQueue,
      async record(name, workflowId, runId) {
        const handle = client.workflow.getHandle(workflowId, runId);
        const history = await handle.fetchHistory();
        const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
        if (!started) throw new Error(`${workflowId}: the history does not begin with the run's start`);
        const file = `${name}.json`;
        fs.writeFileSync(path.join(HISTORIES_DIR, file), `${JSON.stringify(historyToJson(history), null, 1)}\n`);
        const id = runId ?? (await handle.describe()).runId;
        recorded.push({ file, situation, workflowType: started.workflowType?.name ?? '', workflowId, runId: id, ...recording });
        console.log(`  ${file}: ${history.events?.length} events`);
      },
    };
    fs.mkdirSync(HISTORIES_DIR, { recursive: true });
    await worker.runUntil(async () => {
      for (const s of situations) {
        situation = s.name;
        const t0 = Date.now();
        console.log(`${s.name}: ${s.what}`);
        await s.run(ctx);
        console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      }
    });
    const kept = wanted.length && fs.existsSync(MANIFEST_PATH) ? readManifest().histories.filter((h) => !wanted.includes(h.situation)) : [];
    if (!wanted.length) {
      // A full recording replaces every file: none is left from a situation since renamed or removed.
      const current = new Set(recorded.map((r) => r.file));
      for (const f of fs.readdirSync(HISTORIES_DIR)) if (f.endsWith('.json') && f !== 'manifest.json' && !current.has(f)) fs.rmSync(path.join(HISTORIES_DIR, f));
    }
    const manifest: Manifest = { histories: [...kept, ...recorded].sort((a, b) => a.file.localeCompare(b.file)) };
    fs.writeFileSync(MANIFEST_PATH, `${JSON.stringify(manifest, null, 2)}\n`);
    const changed = recording.workflowCodeChanged ? ', with changes to src/workflows or src/shared not committed' : '';
    console.log(`${recorded.length} histories written to ${path.relative(root, HISTORIES_DIR)}/ (commit ${recording.commit.slice(0, 12)}${changed})`);
  } finally {
    await nativeConnection.close();
    await connection.close();
    await lab.down();
    await env.teardown();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
