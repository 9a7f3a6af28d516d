/**
 * What every command of the CLI shares: the exit codes, the usage error, the global options, output in text or
 * JSON, the configuration and the one connection to Temporal a command opens.
 */
import type { Command } from 'commander';
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { loadConfig, type MksysbTapeConfig } from '../../../temporal.config';
import { MksysbTapeClient } from '../backups';

export const EXIT = { ok: 0, runFailed: 1, usage: 2, unreachable: 3, inventory: 4 } as const;

export class CliExit extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

interface GlobalOpts {
  json?: boolean;
  address?: string;
  namespace?: string;
  taskQueue?: string;
  inventory?: string;
}

/** One run of the tool: its global options, its output, its exit code and its connection (opened on first use). */
export class Cli {
  code: number = EXIT.ok;
  private api?: MksysbTapeClient;

  constructor(
    private readonly program: Command,
    readonly io: Io,
  ) {}

  json(): boolean {
    return !!this.program.opts<GlobalOpts>().json;
  }

  print(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  printJson(v: unknown): void {
    this.io.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  }

  /** temporal.config.ts with the global options in place of the variables they stand for. */
  config(): MksysbTapeConfig {
    const o = this.program.opts<GlobalOpts>();
    const env = { ...this.io.env };
    if (o.address) env.TEMPORAL_ADDRESS = o.address;
    if (o.namespace) env.TEMPORAL_NAMESPACE = o.namespace;
    if (o.taskQueue) env.MKSYSB_TAPE_TASK_QUEUE = o.taskQueue;
    if (o.inventory) env.MKSYSB_TAPE_INVENTORY = o.inventory;
    try {
      return loadConfig(env);
    } catch (err) {
      throw new CliExit(EXIT.usage, `configuration: ${(err as Error).message}`);
    }
  }

  async connect(): Promise<MksysbTapeClient> {
    return (this.api ??= await MksysbTapeClient.connect({ config: this.config() }));
  }

  async close(): Promise<void> {
    await this.api?.close().catch(() => undefined);
  }
}

export function intArg(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new CliExit(EXIT.usage, `${name} must be a whole number from ${min} to ${max} (got "${v}")`);
  return Number(v);
}

export function checkDuration(flag: string, v: string): void {
  let ms = NaN;
  try {
    ms = msToNumber(v as Duration);
  } catch {
    /* reported below */
  }
  if (!Number.isFinite(ms) || ms < 0) throw new CliExit(EXIT.usage, `${flag} must be a duration such as 30m, 1h or 2d (got "${v}")`);
}
