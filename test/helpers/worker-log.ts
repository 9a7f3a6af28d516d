/**
 * Where the test workers' logs go. Most tests provoke failures on purpose (a tape write that fails, a dropped
 * connection, a killed worker), and the workers log each one at WARN; on the terminal they buried the test runner's
 * own report. So each test file's worker log is written to test-artifacts/logs/<path under test/>.log, and printed
 * (as the runner's `#` diagnostics) only when one of that file's tests failed, when it is needed to see why.
 * MKSYSB_TEST_VERBOSE=1 prints every entry as it comes, as well.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatWithOptions } from 'node:util';
import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';

const root = path.resolve(__dirname, '..', '..');
const verbose = process.env.MKSYSB_TEST_VERBOSE === '1';

/** The test file this process runs: node's test runner starts one process per file, with the file as argv[1]. */
function testFile(): string {
  const file = process.argv[1] ? path.resolve(process.argv[1]) : 'unknown';
  const rel = path.relative(path.join(root, 'test'), file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.basename(file) : rel;
}

const artifacts = process.env.MKSYSB_TEST_ARTIFACTS ?? path.join(root, 'test-artifacts');
/** This test file's worker log, started afresh by each run of the file. */
export const workerLogPath = path.join(artifacts, 'logs', `${testFile()}.log`);
fs.mkdirSync(path.dirname(workerLogPath), { recursive: true });
fs.writeFileSync(workerLogPath, '');

const format = formatWithOptions.bind(undefined, { colors: false });

// In the SDK's DefaultLogger line format, appended synchronously so that a crashing test file loses nothing.
function logToWorkerLog(entry: LogEntry): void {
  const date = new Date(Number(entry.timestampNanos / 1_000_000n));
  const line = `${date.toISOString()} [${entry.level}] ${entry.message}${entry.meta === undefined ? '' : ` ${format(entry.meta)}`}\n`;
  fs.appendFileSync(workerLogPath, line);
  if (verbose) fs.writeSync(2, line);
}

/**
 * The SDK Runtime of a test file's workers, logging at `level` and above into the worker log. The SDK core's own
 * lines (rare at its default WARN) still go to stderr: forwarding them keeps the process alive after its last test.
 */
export function installWorkerLogRuntime(level: LogLevel): void {
  Runtime.install({ logger: new DefaultLogger(level, logToWorkerLog) });
}

let fd: number | undefined;
/** stderr for a worker run as a child process: the same log file, or the terminal when verbose. */
export function workerLogStdio(): 'inherit' | number {
  if (verbose) return 'inherit';
  fd ??= fs.openSync(workerLogPath, 'a');
  return fd;
}

// The runner has set the exit code once every test of the file has ended; stderr written here still reaches it.
process.on('exit', () => {
  if (verbose || !process.exitCode) return;
  const shown = path.relative(root, workerLogPath);
  const text = fs.readFileSync(workerLogPath, 'utf8');
  fs.writeSync(2, text ? `worker log of this test file (${shown}):\n${text}` : `worker log of this test file: empty (${shown})\n`);
});
