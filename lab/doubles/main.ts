/**
 * Entry point of the command doubles inside a lab host: `node /lab/doubles.cjs NAME ARGS...`,
 * or `node /lab/doubles.cjs wrap NAME REALPATH ARGS...` for a POSIX tool while a fault is armed for it.
 */
import * as fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { commandFaults, config, DropCounter, err, Exit, Hang, log, out, writeAll } from './common';
import { dd } from './dd';
import { bosboot, lsmksysb, mkinsttape, mksysb, restore } from './images';
import { chdev, lsattr, lsdev, mt, tctl } from './tapecmds';
import { wc } from './wc';

const doubles: Record<string, (args: string[]) => number | Promise<number>> = {
  dd,
  tctl,
  mt,
  chdev,
  lsattr,
  lsdev,
  bosboot,
  mkinsttape,
  mksysb,
  lsmksysb,
  restore,
  df,
  wc,
};

/** Commands whose every invocation is logged (dd only when it touches a tape: it logs itself). */
const ALWAYS_LOGGED = new Set(['tctl', 'mt', 'chdev', 'lsattr', 'lsdev', 'bosboot', 'mkinsttape', 'mksysb', 'lsmksysb', 'restore']);

/** AIX `df -k`: Filesystem 1024-blocks Free %Used Iused %Iused Mounted on. */
function df(args: string[]): number {
  const paths = args.filter((a) => !a.startsWith('-'));
  const lvs: Record<string, string> = { '/': '/dev/hd4', '/usr': '/dev/hd2', '/var': '/dev/hd9var', '/tmp': '/dev/hd3', '/home': '/dev/hd1', '/opt': '/dev/hd10opt' };
  out('Filesystem    1024-blocks      Free %Used    Iused %Iused Mounted on\n');
  let code = 0;
  for (const p of paths.length ? paths : ['/']) {
    let s: fs.StatsFs;
    try {
      s = fs.statfsSync(p);
    } catch {
      err(`df: ${p}: A file or directory in the path name does not exist.\n`);
      code = 1;
      continue;
    }
    const top = '/' + (fs.realpathSync(p).split('/')[1] ?? '');
    const mount = lvs[top] ? top : '/';
    const total = Math.floor((s.blocks * s.bsize) / 1024);
    const cap = config().freeBytes;
    const free = Math.floor((cap !== undefined ? Math.min(cap, s.bavail * s.bsize) : s.bavail * s.bsize) / 1024);
    const used = total ? Math.round(((total - free) / total) * 100) : 0;
    const iused = s.files - s.ffree;
    const ipct = s.files ? Math.round((iused / s.files) * 100) : 0;
    out(`${lvs[mount]!.padEnd(14)}${String(total).padStart(11)}${String(free).padStart(10)}${(used + '%').padStart(6)}${String(iused).padStart(9)}${(ipct + '%').padStart(7)} ${mount}\n`);
  }
  return code;
}

/** A POSIX tool with an armed fault: exit/hang faults, or byte counting for drop-connection (cat, tail). */
function wrap(name: string, real: string, args: string[]): number | Promise<number> {
  commandFaults(name, args);
  const drop = new DropCounter(name);
  if (!drop.armed) return spawnSync(real, args, { stdio: 'inherit' }).status ?? 1;
  const child = spawn(real, args, { stdio: ['inherit', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      const n = drop.allow(d.length);
      writeAll(1, d.subarray(0, n));
      drop.add(n);
      if (drop.due) {
        child.kill('SIGKILL');
        drop.fire(args);
      }
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  let code = 1;
  try {
    if (name === 'wrap') {
      const [tool, real, ...rest] = args;
      code = await wrap(tool!, real!, rest);
    } else {
      const fn = name ? doubles[name] : undefined;
      if (!fn) {
        err(`lab: unknown double ${name ?? ''}\n`);
        process.exit(127);
      }
      commandFaults(name!, args);
      code = await fn(args);
    }
  } catch (e) {
    if (e instanceof Hang) return; // stays alive until killed
    if (e instanceof Exit) {
      if (ALWAYS_LOGGED.has(name!) && !e.extra.logged) log(name!, args, e.code, e.extra);
      else if (name === 'dd' && !e.extra.logged && e.extra.tape) log('dd', args, e.code, e.extra);
      process.exit(e.code);
    }
    err(`${name}: lab internal error: ${(e as Error).stack ?? String(e)}\n`);
    if (name && ALWAYS_LOGGED.has(name)) log(name, args, 99, { internalError: String(e) });
    process.exit(99);
  }
  process.exit(code);
}

void main();
