/**
 * A Temporal server whose namespaces lack the project's search attributes (a plain `temporal server start-dev`, a new
 * namespace on a cluster): the worker refuses to start and prints what to run, or registers them when told to and a
 * backup then completes; the client API and the CLI say the same when the server refuses a start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { after } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startLab } from '../../lab';
import { loadConfig } from '../../temporal.config';
import { MksysbTapeClient, SearchAttributesMissingError } from '../../src/client';
import { EXIT_CONFIG, createWorker } from '../../src/worker';
import { ensureSearchAttributes, searchAttributeProblems } from '../../src/namespace-setup';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { workflowBundle } from '../helpers/temporal';
import { testPolicies } from '../helpers/backup';
import { runCli } from '../client/env';
import { ownServer } from '../helpers/own-server';

const root = path.resolve(__dirname, '..', '..');
const NAMES = SEARCH_ATTRIBUTES.map((k) => k.name);
const createLine = (ns: string) =>
  `temporal operator search-attribute create --namespace ${ns} ${NAMES.map((n) => `--name ${n} --type Keyword`).join(' ')}`;

/** `npm run worker` as an operator starts it, configured by its environment only. */
function runWorker(address: string, namespace: string, extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'worker.ts')], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        MKSYSB_TAPE_TASK_QUEUE: `sa-${randomUUID()}`,
        MKSYSB_TAPE_LOG_LEVEL: 'WARN',
        ...extra,
      },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('a namespace without the search attributes', async (t) => {
  const server = await ownServer({ namespaces: ['register', 'fresh', 'typo'] });
  const customOf = async (ns: string) =>
    Object.keys((await server.connection.operatorService.listSearchAttributes({ namespace: ns })).customAttributes ?? {}).sort();

  await t.test('npm run worker exits 78, naming the missing attributes and the create line', async () => {
    const r = await runWorker(server.address, 'default', { MKSYSB_TAPE_INVENTORY: '/nonexistent/inventory.json' });
    assert.equal(r.code, EXIT_CONFIG, r.stderr);
    assert.ok(r.stderr.includes(createLine('default')), r.stderr);
    for (const n of NAMES) assert.match(r.stderr, new RegExp(`${n} \\(Keyword\\)`));
    assert.match(r.stderr, /MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES=1/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'a message, not a stack trace');
    assert.deepEqual(await customOf('default'), [], 'nothing was registered');
  });

  await t.test('the client API start is refused with SearchAttributesMissingError, and nothing starts', async () => {
    const config = { ...loadConfig({ TEMPORAL_ADDRESS: server.address }), taskQueue: `sa-${randomUUID()}` };
    const api = await MksysbTapeClient.connect({ client: server.client(), config });
    const workflowId = `mksysb-tape/aix01/sa-${randomUUID()}`;
    const err = await api.start({ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } }, { workflowId }).then(
      () => assert.fail('the start was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SearchAttributesMissingError, String(err));
    assert.deepEqual([...err.missing].sort(), [...NAMES].sort(), 'every missing attribute, not only the one the server named');
    assert.equal(err.createCommand, createLine('default'));
    await assert.rejects(server.client().workflow.getHandle(workflowId).describe(), WorkflowNotFoundError);
  });

  await t.test('mksysb-tape start prints the same and exits 2', async () => {
    const env = { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'default' };
    const r = await runCli(['start', '--source', 'aix01', '--tape', 'tapesrv:rmt0'], env);
    assert.equal(r.code, 2, r.stderr + r.stdout);
    assert.ok(r.stderr.includes(createLine('default')), r.stderr);
    assert.match(r.stderr, /namespace default lacks the search attributes MksysbSource \(Keyword\)/);
    const json = await runCli(['--json', 'start', '--source', 'aix01', '--tape', 'tapesrv:rmt0'], env);
    assert.equal(json.code, 2);
    assert.equal((JSON.parse(json.stdout) as { error: { type: string } }).error.type, 'SearchAttributesMissingError');
  });

  await t.test('the printed line, run as printed, sets the namespace up', async () => {
    const refused = await runWorker(server.address, 'fresh');
    assert.equal(refused.code, EXIT_CONFIG, refused.stderr);
    const line = refused.stderr.split('\n').find((l) => l.trim().startsWith('temporal operator search-attribute create'));
    assert.ok(line, refused.stderr);
    const [, ...args] = line.trim().split(/\s+/);
    await promisify(execFile)(server.cli, [...args, '--address', server.address]);
    assert.deepEqual(await searchAttributeProblems(server.connection, 'fresh'), []);
    assert.deepEqual(await ensureSearchAttributes(server.connection, 'fresh', { register: false }), [], 'the check passes, nothing to register');
  });

  await t.test('an attribute registered with another type is named, and not papered over by registration', async () => {
    await server.connection.operatorService.addSearchAttributes({
      namespace: 'typo',
      searchAttributes: { MksysbStage: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT },
    });
    const err = await ensureSearchAttributes(server.connection, 'typo', { register: true }).then(
      () => assert.fail('the worker would start'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SearchAttributesMissingError);
    assert.match(err.message, /MksysbStage of namespace typo is registered as Text, mksysb-tape needs Keyword/);
    assert.deepEqual(await customOf('typo'), ['MksysbStage'], 'nothing else was registered');
  });

  await t.test('with registration on, the worker registers them and a backup of the lab completes', async () => {
    const lab = await startLab({ mksysbBytes: 3 << 20 });
    after(() => lab.down());
    const config = {
      ...loadConfig({ TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'register', MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES: '1' }),
      taskQueue: `sa-${randomUUID()}`,
      inventoryPath: lab.inventoryPath,
      policies: testPolicies(),
    };
    assert.equal(config.registerSearchAttributes, true);
    const worker = await createWorker({
      config,
      connection: server.nativeConnection,
      workflowBundle: await workflowBundle(),
      activityDeps: { pollIntervalMs: 200 },
    });
    server.run(worker);
    assert.deepEqual(await customOf('register'), [...NAMES].sort());
    const api = await MksysbTapeClient.connect({ client: server.client('register'), config });
    const started = await api.start({ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } }, { workflowId: `mksysb-tape/aix01/sa-${randomUUID()}` });
    const result = await api.result(started.workflowId);
    assert.equal(result.records.length, 4);
    const status = await api.status(started.workflowId);
    assert.equal(status.status, 'COMPLETED');
    assert.equal(status.outcome, 'succeeded', 'the workflow kept its search attributes current');
    assert.equal(status.stage, 'done');
  });
});
