/**
 * The input checked against the inventory: do the named hosts exist, have the right roles and OS, does the tape
 * host have that device. Runs on the worker (it needs the inventory) before any remote command.
 *
 * Pure code: imports nothing but src/schema.
 */
import type { ResolvedBackup } from './backup-input';
import { InputValidationError, showString, type ValidationIssue } from './format';
import { hostHasRole, type Inventory, type InventoryHost } from './inventory';
import { deviceKindReason } from './rules';

/** A ResolvedBackup whose work folders are settled (input override, else the inventory host's). */
export interface CheckedBackup extends ResolvedBackup {
  workFolder: { source: string; tape: string };
}

const MAX_NAMES_LISTED = 10;

function nameList(names: string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, MAX_NAMES_LISTED).join(', ');
  return names.length > MAX_NAMES_LISTED ? `${shown}, ... (${names.length} in all)` : shown;
}

function hostsWithRole(inv: Inventory, role: 'source' | 'tape'): string[] {
  return Object.keys(inv.hosts).filter((n) => hostHasRole(inv.hosts[n]!, role));
}

function lookup(inv: Inventory, name: string): InventoryHost | undefined {
  return Object.hasOwn(inv.hosts, name) ? inv.hosts[name] : undefined;
}

/**
 * Check `input` against `inv`; return it with `workFolder.source` and `workFolder.tape` filled in from the
 * inventory where the input did not override them. Throws `InputValidationError` naming every mismatch.
 */
export function checkInputAgainstInventory(input: ResolvedBackup, inv: Inventory): CheckedBackup {
  const issues: ValidationIssue[] = [];
  const lines: string[] = [];
  const add = (path: string, value: string, message: string) => {
    issues.push({ path, message });
    lines.push(`${path} ${showString(value)}: ${message}`);
  };

  const source = lookup(inv, input.source);
  if (!source) {
    add('source', input.source, `is not a host in the inventory (source hosts: ${nameList(hostsWithRole(inv, 'source'))})`);
  } else if (!hostHasRole(source, 'source')) {
    add('source', input.source, `is not a source host in the inventory (its role is ${JSON.stringify(source.role)}); source hosts: ${nameList(hostsWithRole(inv, 'source'))}`);
  } else if (source.os !== 'aix') {
    add('source', input.source, `runs ${source.os}, but mksysb runs only on AIX`);
  }

  const tape = lookup(inv, input.tape.host);
  if (!tape) {
    add('tape.host', input.tape.host, `is not a host in the inventory (tape hosts: ${nameList(hostsWithRole(inv, 'tape'))})`);
  } else if (!hostHasRole(tape, 'tape')) {
    add('tape.host', input.tape.host, `is not a tape host in the inventory (its role is ${JSON.stringify(tape.role)}); tape hosts: ${nameList(hostsWithRole(inv, 'tape'))}`);
  } else {
    const device = input.tape.device;
    const kind = deviceKindReason(device, input.tape.host, tape.os);
    const devices = Object.keys(tape.devices ?? {});
    if (kind) add('tape.device', device, kind);
    else if (!devices.includes(device)) {
      add('tape.device', device, `is not a device of ${input.tape.host} in the inventory (its devices: ${nameList(devices)})`);
    }
    if (input.verify === 'lsmksysb' && tape.os !== 'aix') {
      add('verify', input.verify, `lsmksysb exists only on AIX and ${input.tape.host} runs Linux; use "full" or "none"`);
    }
  }

  if (issues.length > 0 || !source || !tape) throw new InputValidationError(issues, lines);
  return {
    ...input,
    tape: { ...input.tape },
    mksysbFlags: [...input.mksysbFlags],
    retry: { ...input.retry },
    workFolder: {
      source: input.workFolder.source ?? source.workFolder,
      tape: input.workFolder.tape ?? tape.workFolder,
    },
  };
}
