/**
 * `npx tsx bench/relay-profile.ts [--mib 1024,2048] [--rounds 3]`: where the relay's time and CPU go. Each variant
 * runs after the others on the same lab and the same image, round after round, so that the machine's drift hits
 * each alike; the page cache is written back (`sync`) before each. For each variant and size: the best wall time, and
 * for that run the worker process's own CPU seconds and the whole machine's busy CPU seconds (/proc/stat, steal
 * included), per GiB moved. Writes "## Relay profile" in BENCHMARKS.md (`npm run bench` keeps it).
 *
 *   openssh        ssh src cat | ssh dst 'cat >'       (the relay figure's baseline: two ssh clients, a pipe)
 *   openssh-relay  opensshRelay() into a framed writer (the worker's OpenSSH relay alone: the same two clients,
 *                                                      pinned keys, setpriv, the data marker skipped on the tape host)
 *   ssh2           relay() of readFrom into `cat >`     (the worker's ssh2 relay alone: ssh2 in one Node thread)
 *   hashing        relay() into writeHashing            (the same, and the tape host hashes the file it wrote)
 *   activity       transferImage, OpenSSH relay         (the default: writeHashing, survey, resume point, size check)
 *   activity-ssh2  transferImage, ssh2 relay            (the same with MKSYSB_TAPE_RELAY=ssh2)
 *
 * `RELAY_PROFILE_ONLY=ssh2 node --cpu-prof --import tsx bench/relay-profile.ts --mib 1024 --rounds 1` profiles the
 * worker's JavaScript.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startLab } from '../lab/index';
import { DEFAULT_POLICIES } from '../src/shared/policies';
import type { RelayClient } from '../src/shared/contract';
import { createActivities, type StagedImage } from '../src/activities';
import { ActivityHosts } from '../src/activities/hosts';
import { SshPool } from '../src/ssh';
import { relay } from '../src/ssh/relay';
import { findOpensshTools, opensshRelay } from '../src/ssh/openssh-relay';
import { images, stagedPath, transfer } from '../src/tape';
import { writeSection } from './fleet';
import { CIPHER, MiB, machine, machineCpu, q, randomFile, round, runActivity, sha256Of, sshTo, timeBash } from './helpers';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SIZES = arg('mib', '1024,2048').split(',').map(Number);
const ROUNDS = Number(arg('rounds', '3'));
const ONLY = process.env.RELAY_PROFILE_ONLY?.split(',');

interface Run {
  wall: number;
  worker: number;
  machine: number;
}

async function measure(fn: () => Promise<unknown>): Promise<Run> {
  const c0 = process.cpuUsage();
  const m0 = machineCpu();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall, worker: (c.user + c.system) / 1e6, machine: machineCpu() - m0 };
}

async function main(): Promise<void> {
  const load = os.loadavg().map((x) => round(x, 1));
  const lab = await startLab({});
  const pool = new SshPool();
  const rows: string[] = [];
  try {
    const deps = { inventoryPath: lab.inventoryPath, policies: DEFAULT_POLICIES, pollIntervalMs: 500 };
    const acts = createActivities(deps);
    const ssh2Acts = createActivities({ ...deps, relayVia: 'ssh2' });
    const tools = await findOpensshTools();
    if (!tools) throw new Error('this machine has no ssh or no setpriv --pdeathsig: the OpenSSH relay cannot be profiled');
    const input = { source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' }, overwrite: true, keepStaging: true };
    const plan = await runActivity(acts.resolveBackup, input, 'mksysb-tape/relay-profile');
    const hosts = new ActivityHosts({ inventoryPath: lab.inventoryPath, pool });
    const src = await hosts.host('aix01');
    const dst = await hosts.host('tapesrv');
    const file = stagedPath(plan.stagingSource, 4);
    const target = stagedPath(plan.stagingTape, 4);
    const other = '/home/mksysb/openssh-relay.img';
    await dst.exec(images.mkdirP(plan.stagingTape));
    const tapeRoot = lab.host('tapesrv').root;
    for (const mib of SIZES) {
      const real = await randomFile(lab, 'aix01', file, mib * MiB);
      const img: StagedImage = { record: 4, file, bytes: mib * MiB, sha256: await sha256Of(real) };
      const relayInto = async (write: string): Promise<string> => {
        const r = await relay(src, transfer.readFrom(file, 0), dst, write, { dataMarker: transfer.DATA_MARKER });
        if (r.bytes !== img.bytes || r.destination.code !== 0) throw new Error(`relay moved ${r.bytes} bytes: ${JSON.stringify(r)}`);
        return r.destination.stdout;
      };
      const moveWith = async (a: typeof acts, client: RelayClient): Promise<void> => {
        const r = await runActivity(a.transferImage, plan, img);
        if (r.relayedBy !== client || r.bytesSent !== img.bytes) throw new Error(`transferImage: ${JSON.stringify(r)}`);
      };
      const variants: Record<string, () => Promise<unknown>> = {
        openssh: () => timeBash(`${sshTo(lab, 'aix01')} ${q(`cat ${file}`)} | ${sshTo(lab, 'tapesrv')} ${q(`cat > ${other}`)}`),
        'openssh-relay': async () => {
          const r = await opensshRelay(tools, await hosts.endpoint('aix01'), transfer.readFrom(file, 0), await hosts.endpoint('tapesrv'), transfer.writeFrom(target, 0, { framed: true }));
          if (r.source.code !== 0 || r.destination.code !== 0) throw new Error(`the OpenSSH relay failed: ${JSON.stringify(r)}`);
        },
        ssh2: () => relayInto(transfer.writeFrom(target, 0)),
        hashing: async () => {
          if (!(await relayInto(transfer.writeHashing(plan.tapeOs, target))).includes(img.sha256)) throw new Error('the tape host hashed other bytes');
        },
        activity: () => moveWith(acts, 'openssh'),
        'activity-ssh2': () => moveWith(ssh2Acts, 'ssh2'),
      };
      const runs: Record<string, Run[]> = {};
      for (let r = 0; r < ROUNDS; r++) {
        for (const [name, fn] of Object.entries(variants)) {
          if (ONLY && !ONLY.includes(name)) continue;
          fs.rmSync(path.join(tapeRoot, target), { force: true });
          fs.rmSync(path.join(tapeRoot, other), { force: true });
          // Each variant starts with the page cache written back: the dirty pages of the one before are not its cost.
          await timeBash('sync');
          (runs[name] ??= []).push(await measure(fn));
        }
      }
      const gib = mib / 1024;
      const bestOf = (rs: Run[]): Run => rs.reduce((a, b) => (b.wall < a.wall ? b : a));
      const baseline = runs.openssh ? bestOf(runs.openssh).wall : undefined;
      for (const [name, rs] of Object.entries(runs)) {
        const best = bestOf(rs);
        const ratio = baseline ? round(baseline / best.wall) : '—';
        const row = `| ${name} | ${mib} | ${round(best.wall)} (${rs.map((x) => round(x.wall, 1)).join(', ')}) | ${round(mib / best.wall, 1)} | ${ratio} | ${round(best.worker / gib)} | ${round(best.machine / gib)} |`;
        console.log(row);
        rows.push(row);
      }
    }
  } finally {
    await pool.closeAll();
    await lab.down();
  }
  const m = machine();
  writeSection(
    'Relay profile',
    [
      '## Relay profile',
      '',
      `${m.date.slice(0, 10)}; ${m.nproc} × ${m.cpu}; load ${load.join(' ')} at the start; \`tsx bench/relay-profile.ts\`, ${ROUNDS} rounds, ${CIPHER}. ` +
        'Best wall time of the rounds (all of them in brackets), and its speed as a share of the `openssh` baseline\'s in the same ' +
        'round set; CPU seconds per GiB moved, of the worker process and of the whole ' +
        'machine (both sshd, the ssh clients or the worker, the shells; steal included).',
      '',
      '| variant | MiB | seconds | MiB/s | of openssh | worker CPU s/GiB | machine CPU s/GiB |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
