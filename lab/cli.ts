/**
 * `npm run lab -- up|down|fault|clear|status|load|unload|autoloader|trust|untrust` (see lab/README.md, docs/lab.md).
 * `up` prints one JSON object {dir, inventory, hosts} and leaves the hosts' sshd running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { attachLab, startLab, AIX_SHELLS, DEFAULT_CAPACITY, DEFAULT_LOAD_SECONDS, type AixShell, type LabOptions } from './index';
import { isHostOs } from '../src/schema/tape-rules';

const DEFAULT_DIR = path.resolve(process.cwd(), '.lab');

function int(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number of bytes');
  return Number(v);
}

function seconds(v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError('expected a number of seconds (e.g. 1.5)');
  return Number(v);
}

function tapeHost(v: string, prev: NonNullable<LabOptions['tapeHosts']> = []): NonNullable<LabOptions['tapeHosts']> {
  const [name, os = 'aix', drives = '1', cap] = v.split(':');
  if (!name || !isHostOs(os) || !/^\d+$/.test(drives) || (cap !== undefined && !/^\d+$/.test(cap))) {
    throw new InvalidArgumentError('expected NAME[:aix|linux[:DRIVES[:CAPACITY_BYTES]]]');
  }
  return [...prev, { name, os, drives: Number(drives), capacityBytes: cap ? Number(cap) : DEFAULT_CAPACITY }];
}

function shell(v: string): AixShell {
  if (!(AIX_SHELLS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${AIX_SHELLS.join(', ')}`);
  return v as AixShell;
}

const program = new Command('lab').description('a simulated AIX estate: sshd hosts, AIX command doubles, AWSTAPE tapes');

program
  .command('up')
  .description('start the lab and print {dir, inventory, hosts} as JSON')
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .option('--sources <n|names>', 'source hosts: a count (aix01..) or comma-separated names', 'aix01')
  .option('--tape-host <spec>', 'tape host NAME[:aix|linux[:DRIVES[:CAPACITY_BYTES]]] (repeatable)', tapeHost)
  .option('--mksysb-bytes <n>', 'synthetic rootvg size', int)
  .option('--mksysb-rate <n>', 'mksysb speed in bytes per second', int)
  .option('--boot-image-bytes <n>', 'boot image size', int)
  .option('--shell <name>', `the AIX hosts' login shell and sh: ${AIX_SHELLS.join(', ')}`, shell, 'lksh')
  .action(async (o: { dir: string; sources: string; tapeHost?: LabOptions['tapeHosts']; mksysbBytes?: number; mksysbRate?: number; bootImageBytes?: number; shell: AixShell }) => {
    const lab = await startLab({
      dir: o.dir,
      sources: /^\d+$/.test(o.sources) ? Number(o.sources) : o.sources.split(',').filter(Boolean),
      tapeHosts: o.tapeHost,
      mksysbBytes: o.mksysbBytes,
      mksysbBytesPerSecond: o.mksysbRate,
      bootImageBytes: o.bootImageBytes,
      shell: o.shell,
      detach: true,
    });
    process.stdout.write(JSON.stringify({ dir: lab.dir, inventory: lab.inventoryPath, hosts: lab.hosts }, null, 2) + '\n');
  });

program
  .command('down')
  .description('stop every host of the lab (sshd and everything started in its sessions)')
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (o: { dir: string }) => {
    const lab = await attachLab(o.dir);
    await lab.down();
  });

program
  .command('fault')
  .description('arm a fault on a host, e.g.: fault tapesrv write-fail file=4 nth=1')
  .argument('<host>')
  .argument('<spec...>')
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (host: string, spec: string[], o: { dir: string }) => {
    const lab = await attachLab(o.dir);
    // Words the shell has unquoted (message=0512-xxx some text) are quoted again for the SPEC parser.
    await lab.fault(host, spec.map((w) => (/\s/.test(w) && w.includes('=') ? `${w.slice(0, w.indexOf('=') + 1)}"${w.slice(w.indexOf('=') + 1).replace(/(["\\])/g, '\\$1')}"` : w)).join(' '));
  });

program
  .command('clear')
  .description('remove the armed faults of one host or of all hosts (and load the tapes again)')
  .argument('[host]')
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (host: string | undefined, o: { dir: string }) => {
    const lab = await attachLab(o.dir);
    await lab.clearFaults(host);
  });

program
  .command('trust')
  .description('let a tape host log in to a source with its own ssh (key, known_hosts) and write pullFrom into the inventory')
  .argument('<tape-host>')
  .argument('<source>')
  .option('--no-inventory', 'set up the key and known_hosts only; leave the inventory as it is')
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (tape: string, source: string, o: { dir: string; inventory: boolean }) => {
    const lab = await attachLab(o.dir);
    process.stdout.write(JSON.stringify(lab.trust(tape, source, { inventory: o.inventory }), null, 2) + '\n');
  });

program
  .command('untrust')
  .description('undo trust: remove pullFrom from the inventory and the key from the source')
  .argument('<tape-host>')
  .argument('<source>')
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (tape: string, source: string, o: { dir: string }) => {
    const lab = await attachLab(o.dir);
    lab.untrust(tape, source);
  });

program
  .command('load')
  .description('load a cartridge into a drive (the one in it goes back to the library) and print its AWSTAPE file')
  .argument('<host>')
  .argument('<device>')
  .argument('[name]', 'a cartridge of the drive (with --new: the new one\'s name)')
  .option('--new', 'a new blank cartridge (named DEVICE-2, DEVICE-3, ... unless NAME is given)')
  .option('--capacity <bytes>', 'capacity of the cartridge (default: the drive\'s)', int)
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (host: string, device: string, name: string | undefined, o: { new?: boolean; capacity?: number; dir: string }) => {
    const lab = await attachLab(o.dir);
    if (!o.new && !name) throw new Error('load: give a cartridge NAME or --new');
    if (!o.new && !lab.cartridges(host, device).some((c) => c.name === name)) {
      throw new Error(`load: ${host}:${device} has no cartridge "${name}" (${lab.cartridges(host, device).map((c) => c.name).join(', ')}); --new makes one`);
    }
    if (o.new && name && lab.cartridges(host, device).some((c) => c.name === name)) throw new Error(`load: ${host}:${device} already has a cartridge "${name}"`);
    process.stdout.write(lab.load(host, device, { name, capacityBytes: o.capacity }).aws + '\n');
  });

program
  .command('unload')
  .description('take the cartridge out of a drive, as tctl offline does (it goes back to the library)')
  .argument('<host>')
  .argument('<device>')
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (host: string, device: string, o: { dir: string }) => {
    const lab = await attachLab(o.dir);
    lab.unload(host, device);
  });

program
  .command('autoloader')
  .description('give a drive a sequential autoloader with a magazine of new blank cartridges')
  .argument('<host>')
  .argument('<device>')
  .requiredOption('--cartridges <n>', 'cartridges in the magazine (0: an empty magazine)', int)
  .option('--capacity <bytes>', 'capacity of each (default: the drive\'s)', int)
  .option('--load-seconds <s>', `seconds from an unload to the next cartridge being ready (default ${DEFAULT_LOAD_SECONDS})`, seconds)
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (host: string, device: string, o: { cartridges: number; capacity?: number; loadSeconds?: number; dir: string }) => {
    const lab = await attachLab(o.dir);
    const r = lab.setAutoloader(host, device, { cartridges: o.cartridges, capacityBytes: o.capacity, loadSeconds: o.loadSeconds });
    process.stdout.write(JSON.stringify(r) + '\n');
  });

program
  .command('status')
  .description('print hosts, whether they run, armed faults and tape positions as JSON')
  .option('--dir <dir>', 'state directory', DEFAULT_DIR)
  .action(async (o: { dir: string }) => {
    if (!fs.existsSync(path.join(o.dir, 'lab.json'))) throw new Error(`no lab in ${o.dir}`);
    const lab = await attachLab(o.dir);
    const alive = lab.alive();
    const hosts = lab.hosts.map((h, i) => ({
      name: h.name,
      port: h.port,
      os: h.os,
      role: h.role,
      running: alive[i],
      faults: lab.faults(h.name),
      tapes: Object.fromEntries(
        Object.keys(h.devices ?? {}).map((d) => {
          const st = lab.tapeState(h.name, d);
          return [d, {
            loaded: st.loaded,
            cartridge: st.loaded ? st.cartridge : null,
            blockSize: st.blockSize,
            extfm: st.extfm,
            file: st.marks.filter((m) => m < st.offset).length + 1,
            offset: st.offset,
            files: st.marks.length,
            bytes: st.size,
            cartridges: lab.cartridges(h.name, d),
            autoloader: lab.autoloader(h.name, d) ?? null,
          }];
        }),
      ),
    }));
    process.stdout.write(JSON.stringify({ dir: lab.dir, hosts }, null, 2) + '\n');
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`lab: ${(e as Error).message}\n`);
  process.exit(1);
});
