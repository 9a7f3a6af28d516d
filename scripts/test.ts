/**
 * The test command (`npm test`): one Temporal dev server for the whole run, started by
 * TestWorkflowEnvironment.createLocal from the Temporal CLI that scripts/temporal-cli.ts finds or installs, with the
 * project's search attributes registered and the Web UI on; workflow code bundled once; then Node's test runner over
 * test/**\/*.test.ts (or the files given as arguments), each test file in its own process, connecting to that server
 * through MKSYSB_TEST_* environment variables. Everything is torn down at the end.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../src/shared/search-attributes';
import { describeCli, requireTemporalCli } from './temporal-cli';
import { requireBffextract } from './bffextract';
import { WORKFLOWS_PATH } from '../src/worker';
import { quietLogger } from './quiet-logger';

const root = path.resolve(__dirname, '..');

function listTests(args: string[]): string[] {
  if (args.length) return args.map((a) => path.resolve(a));
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) out.push(p);
    }
  };
  walk(path.join(root, 'test'));
  return longestFirst(out.sort());
}

/**
 * The files in the order they start: longest first by test/durations.json (seconds per file from an earlier run, as
 * scripts/durations-reporter.mjs writes them), files it does not know before all of them (a new file may be long).
 * With two files at a time, a long file started last would run on alone at the end.
 */
function longestFirst(files: string[]): string[] {
  let known: Record<string, number> = {};
  try {
    known = JSON.parse(fs.readFileSync(path.join(root, 'test', 'durations.json'), 'utf8')) as Record<string, number>;
  } catch {
    return files;
  }
  const took = (f: string): number => known[path.relative(root, f)] ?? Infinity;
  return files.map((f, i) => ({ f, i })).sort((a, b) => took(b.f) - took(a.f) || a.i - b.i).map((x) => x.f);
}

/**
 * Node's own reporter on stdout (spec on a terminal, and from Node 23 everywhere; tap otherwise) and the durations
 * reporter into the artifacts, unless the command line names reporters itself.
 */
function reporterFlags(nodeFlags: string[], artifacts: string): string[] {
  if (nodeFlags.some((f) => f.startsWith('--test-reporter'))) return [];
  const major = Number(process.versions.node.split('.')[0]);
  const own = process.stdout.isTTY || major >= 23 ? 'spec' : 'tap';
  return [
    `--test-reporter=${own}`,
    '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(root, 'scripts', 'durations-reporter.mjs')}`,
    `--test-reporter-destination=${path.join(artifacts, 'durations.json')}`,
  ];
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function main(): Promise<number> {
  // Arguments: test files (default: all), and node --test options such as --test-name-pattern=REGEX.
  const args = process.argv.slice(2);
  const nodeFlags = args.filter((a) => a.startsWith('--'));
  const files = listTests(args.filter((a) => !a.startsWith('--')));
  // Debian packages the lab and the checks need (sshd, Hercules' tapemap/hetget, file, chromium), when missing.
  execFileSync('bash', [path.join(root, 'scripts', 'system-deps.sh')], { stdio: 'inherit' });
  const useSdkDownload = process.env.MKSYSB_TAPE_SDK_DOWNLOAD === '1';
  let executable: { type: 'existing-path'; path: string } | { type: 'cached-download' };
  if (useSdkDownload) {
    executable = { type: 'cached-download' };
    console.log('Temporal dev server: the SDK downloads its own (MKSYSB_TAPE_SDK_DOWNLOAD=1)');
  } else {
    const cli = requireTemporalCli();
    console.log(describeCli(cli));
    executable = { type: 'existing-path', path: cli.path };
  }
  // The lab's archives are checked with a reader built from AIX-made archives (test/lab/bff-reader.test.ts).
  const bffextract = requireBffextract();
  console.log(`bffextract: ${bffextract.path} (found via ${bffextract.how})`);
  const uiPort = await freePort();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable,
      ip: '127.0.0.1',
      ui: true,
      uiPort,
      searchAttributes: [...SEARCH_ATTRIBUTES],
      extraArgs: ['--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true'],
    },
  });
  // MKSYSB_TEST_ARTIFACTS moves them (two runs at once on one clone would otherwise empty each other's logs).
  const artifacts = path.resolve(process.env.MKSYSB_TEST_ARTIFACTS ?? path.join(root, 'test-artifacts'));
  fs.mkdirSync(artifacts, { recursive: true });
  // Each test file writes its workers' log there (test/helpers/worker-log.ts); none is left from an earlier run.
  const workerLogs = path.join(artifacts, 'logs');
  fs.rmSync(workerLogs, { recursive: true, force: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mksysb-tape-test-'));
  try {
    console.log(`Temporal dev server at ${env.address}, Web UI at http://127.0.0.1:${uiPort}`);
    console.log(
      `Worker logs: ${path.relative(root, workerLogs)}/<test file>.log, printed below only for a file with a failing test ` +
        `(MKSYSB_TEST_VERBOSE=1: all of them, as they come)`,
    );
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
    const bundlePath = path.join(tmp, 'workflow-bundle.js');
    fs.writeFileSync(bundlePath, bundle.code);
    const concurrency = process.env.MKSYSB_TEST_CONCURRENCY ?? '2';
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporterFlags(nodeFlags, artifacts), ...nodeFlags, ...files],
      {
        cwd: root,
        stdio: 'inherit',
        env: {
          ...process.env,
          MKSYSB_TEST_TEMPORAL_ADDRESS: env.address,
          MKSYSB_TEST_TEMPORAL_UI: `http://127.0.0.1:${uiPort}`,
          MKSYSB_TEST_TEMPORAL_CLI: executable.type === 'existing-path' ? executable.path : '',
          MKSYSB_TEST_WORKFLOW_BUNDLE: bundlePath,
          MKSYSB_TEST_ARTIFACTS: artifacts,
          MKSYSB_TEST_BFFEXTRACT: bffextract.path,
        },
      },
    );
    const code: number = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
    return code;
  } finally {
    await env.teardown();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}


main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
