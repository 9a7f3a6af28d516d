/**
 * Finds `bffextract` (crates.io, ponchofiesta/bffextract-rs), the reader of AIX backup archives that the lab's tests
 * use as a check nobody here wrote, building it when it is missing:
 *   1. BFFEXTRACT, an explicit path;
 *   2. `bffextract` on PATH;
 *   3. the project-local .tools/cargo/bin;
 *   4. otherwise: `cargo install bffextract@PINNED --locked --root .tools/cargo` (without --locked if that fails).
 * Cargo is looked for on PATH, in $CARGO_HOME/bin, ~/.cargo/bin and /root/.cargo/bin (rustup's places, often not on
 * PATH in CI). Run directly (`npm run bffextract`) it prints the path it found.
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { isExecutable, onPath } from './executables';

export const BFFEXTRACT_VERSION = '0.9.0';

const root = path.resolve(__dirname, '..');
const cargoRoot = path.join(root, '.tools', 'cargo');
const localBin = path.join(cargoRoot, 'bin', 'bffextract');

export function findCargo(): string | undefined {
  const candidates = [
    onPath('cargo'),
    process.env.CARGO_HOME && path.join(process.env.CARGO_HOME, 'bin', 'cargo'),
    path.join(os.homedir(), '.cargo', 'bin', 'cargo'),
    '/root/.cargo/bin/cargo',
  ];
  return candidates.find((c): c is string => !!c && isExecutable(c));
}

export interface FoundBffextract {
  path: string;
  how: 'BFFEXTRACT' | 'PATH' | '.tools/cargo' | 'cargo install';
}

export function findBffextract(opts: { install?: boolean; log?: (msg: string) => void } = {}): FoundBffextract | undefined {
  const log = opts.log ?? ((m) => process.stderr.write(m + '\n'));
  const explicit = process.env.BFFEXTRACT;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`BFFEXTRACT=${explicit} is not an executable file`);
    return { path: explicit, how: 'BFFEXTRACT' };
  }
  const fromPath = onPath('bffextract');
  if (fromPath) return { path: fromPath, how: 'PATH' };
  if (isExecutable(localBin)) return { path: localBin, how: '.tools/cargo' };
  if (opts.install === false) return undefined;

  const cargo = findCargo();
  if (!cargo) {
    throw new Error(
      'bffextract is missing and there is no cargo to build it (looked on PATH, in $CARGO_HOME/bin, ~/.cargo/bin, ' +
        '/root/.cargo/bin). Install Rust (Debian: `apt-get install cargo`, or rustup), or put `bffextract` on PATH, ' +
        'or set BFFEXTRACT to its path.',
    );
  }
  // The build takes minutes on a small machine; say so, since the test run waits for it.
  log(`bffextract not found; building crates.io bffextract ${BFFEXTRACT_VERSION} into ${cargoRoot} with ${cargo} (a few minutes)`);
  const install = (locked: boolean) =>
    execFileSync(cargo, ['install', 'bffextract', '--version', BFFEXTRACT_VERSION, ...(locked ? ['--locked'] : []), '--root', cargoRoot], {
      stdio: 'inherit',
      env: { ...process.env, PATH: `${path.dirname(cargo)}${path.delimiter}${process.env.PATH ?? ''}` },
    });
  try {
    install(true);
  } catch (err) {
    log(`cargo install --locked failed (${(err as Error).message}); trying without --locked`);
    install(false);
  }
  return isExecutable(localBin) ? { path: localBin, how: 'cargo install' } : undefined;
}

export function requireBffextract(): FoundBffextract {
  const found = findBffextract();
  if (!found) throw new Error(`cargo install finished but ${localBin} is not there`);
  return found;
}

if (require.main === module) {
  const found = requireBffextract();
  console.log(`bffextract: ${found.path} (found via ${found.how})`);
}
