/**
 * `inventory trust|check`: pin a host's key in the inventory; check every host the way the worker will use it.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { formatInventoryReport } from '../format';
import { checkInventory } from '../inventory-check';
import { fetchHostKey, formatSeenHostKey, recordHostKey } from '../inventory-trust';
import { CliExit, EXIT, intArg, type Cli } from './context';

export function addInventoryCommands(program: Command, cli: Cli): void {
  const inventory = program.command('inventory').description('the host inventory');
  inventory
    .command('trust')
    .description("show the host key HOST presents now and pin it in the inventory (only with --yes or after you confirm)")
    .argument('<host>', 'inventory name of the host')
    .option('--yes', 'record the key without asking (check the fingerprint first)')
    .action(async (host: string, o: { yes?: boolean }) => {
      const cfg = cli.config();
      const seen = await fetchHostKey(cfg.inventoryPath, host).catch((err: unknown) => {
        throw new CliExit(EXIT.usage, (err as Error).message);
      });
      if (!cli.json()) cli.print(formatSeenHostKey(seen));
      let yes = !!o.yes || seen.matchesPinned;
      if (!yes && !cli.json() && process.stdin.isTTY) {
        const rl = createInterface({ input: process.stdin, output: cli.io.stdout });
        const answer = await rl.question(`record this key for ${host} in ${cfg.inventoryPath}? [y/N] `);
        rl.close();
        yes = /^y(es)?$/i.test(answer.trim());
      }
      const recorded = yes && !seen.matchesPinned ? await recordHostKey(cfg.inventoryPath, host, seen.hostKey) : undefined;
      if (cli.json()) cli.printJson({ ...seen, recorded: !!recorded, inventoryProblems: recorded?.inventoryProblems ?? null });
      else if (seen.matchesPinned) cli.print('nothing to change');
      else if (recorded) {
        cli.print(`recorded ${seen.fingerprint} as the host key of ${host} in ${cfg.inventoryPath}`);
        if (recorded.inventoryProblems) cli.print(`the inventory still has problems: ${recorded.inventoryProblems}`);
      } else cli.print(`not recorded; check the fingerprint on the host's console, then run: mksysb-tape inventory trust ${host} --yes`);
      cli.code = yes ? EXIT.ok : EXIT.usage;
    });
  inventory
    .command('check')
    .description('connect to every host: host key, commands each role needs, work folder free space (run it where the worker runs)')
    .option('--host <name...>', 'only these hosts')
    .option('--min-free <MiB>', 'a work folder with less free space is a problem', '1024')
    .action(async (o: { host?: string[]; minFree: string }) => {
      const cfg = cli.config();
      const min = intArg('--min-free', o.minFree, 0, Number.MAX_SAFE_INTEGER)!;
      const report = await checkInventory(cfg.inventoryPath, { hosts: o.host, minFreeBytes: min * 1024 * 1024 });
      if (cli.json()) cli.printJson(report);
      else cli.print(formatInventoryReport(report));
      cli.code = report.ok ? EXIT.ok : EXIT.inventory;
    });}
