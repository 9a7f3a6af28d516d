/**
 * Activities of the fleet workflow (src/workflows/fleet.ts): resolving the sources (a list or an inventory group) and
 * the drives against the inventory, and the image sizes of earlier backups, read from Temporal's visibility (the last
 * completed mksysbToTape run of each source) so that the fleet can start the longest backups first.
 */
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { loadInventory } from '../schema/load-inventory';
import { hostHasRole, type Inventory } from '../schema';
import { WORKFLOW_TYPE, progressQuery, type BackupResult } from '../shared/contract';
import type { Drive } from '../shared/drive';
import { backupTapeBytes } from '../shared/fleet';
import { SA_SOURCE } from '../shared/search-attributes';

export interface ResolveFleetInput {
  sources?: string[];
  group?: string;
  drives: Drive[];
}

export interface ResolvedFleet {
  sources: string[];
  drives: Drive[];
}

/** Checks a fleet's sources and drives against the inventory; every problem in one non-retryable error. */
export function checkFleet(inv: Inventory, input: ResolveFleetInput): ResolvedFleet {
  const problems: string[] = [];
  let sources: string[] = [];
  if (input.sources !== undefined && input.group !== undefined) {
    problems.push('give either "sources" or "group", not both');
  } else if (input.group !== undefined) {
    const members = Object.hasOwn(inv.groups, input.group) ? inv.groups[input.group] : undefined;
    if (!members) {
      const known = Object.keys(inv.groups);
      problems.push(`group "${input.group}" is not in the inventory (groups: ${known.length ? known.join(', ') : 'none'})`);
    } else sources = [...members];
  } else if (input.sources !== undefined) {
    sources = [...input.sources];
  } else problems.push('give "sources" (a list of source host names) or "group" (an inventory group)');
  if (input.sources !== undefined && sources.length === 0) problems.push('"sources" must list at least one host');
  const seen = new Set<string>();
  sources.forEach((s, i) => {
    const h = Object.hasOwn(inv.hosts, s) ? inv.hosts[s] : undefined;
    if (seen.has(s)) problems.push(`sources[${i}] "${s}" is listed twice`);
    else if (!h) problems.push(`sources[${i}] "${s}" is not a host in the inventory`);
    else if (!hostHasRole(h, 'source')) problems.push(`sources[${i}] "${s}" is not a host with role "source"`);
    seen.add(s);
  });
  if (!Array.isArray(input.drives) || input.drives.length === 0) {
    problems.push('"drives" must list at least one drive, e.g. [{"host": "tapesrv", "device": "rmt0"}]');
  } else {
    const seenDrives = new Set<string>();
    input.drives.forEach((d, i) => {
      const key = `${d?.host}/${d?.device}`;
      const h = d && Object.hasOwn(inv.hosts, d.host) ? inv.hosts[d.host] : undefined;
      if (seenDrives.has(key)) problems.push(`drives[${i}] ${key} is listed twice`);
      else if (!h) problems.push(`drives[${i}].host "${d?.host}" is not a host in the inventory`);
      else if (!hostHasRole(h, 'tape')) problems.push(`drives[${i}].host "${d.host}" is not a host with role "tape"`);
      else if (!h.devices || !Object.hasOwn(h.devices, d.device)) {
        problems.push(`drives[${i}].device "${d.device}" is not a device of ${d.host} (devices: ${Object.keys(h.devices ?? {}).join(', ')})`);
      }
      seenDrives.add(key);
    });
  }
  if (problems.length) {
    throw ApplicationFailure.nonRetryable(`invalid fleet input:\n  ${problems.join('\n  ')}`, 'InvalidFleetInput');
  }
  return { sources, drives: input.drives.map((d) => ({ host: d.host, device: d.device })) };
}


export function fleetActivities(deps: { inventoryPath: string; client?: Client }) {
  return {
    async resolveFleet(input: ResolveFleetInput): Promise<ResolvedFleet> {
      let inv: Inventory;
      try {
        inv = await loadInventory(deps.inventoryPath);
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidInventory');
      }
      return checkFleet(inv, input);
    },

    /**
     * Bytes written to tape by the last completed mksysbToTape run of each source (by close time), for the sources
     * that have one among the newest `scanLimit` completed runs. Sources without a known size are left out.
     */
    async lastBackupSizes(input: { sources: string[]; scanLimit?: number }): Promise<Record<string, number>> {
      if (!deps.client || input.sources.length === 0) return {};
      const wanted = new Set(input.sources);
      const latest = new Map<string, { workflowId: string; runId: string; closed: number }>();
      const limit = input.scanLimit ?? 5000;
      let scanned = 0;
      const query = `WorkflowType = '${WORKFLOW_TYPE}' AND ExecutionStatus = 'Completed'`;
      for await (const wf of deps.client.workflow.list({ query, pageSize: 500 })) {
        if (++scanned > limit) break;
        const source = wf.typedSearchAttributes.get(SA_SOURCE);
        if (!source || !wanted.has(source)) continue;
        const closed = wf.closeTime?.getTime() ?? 0;
        const prev = latest.get(source);
        if (!prev || closed > prev.closed) latest.set(source, { workflowId: wf.workflowId, runId: wf.runId, closed });
      }
      const sizes: Record<string, number> = {};
      for (const [source, run] of latest) {
        try {
          const result = (await deps.client.workflow.getHandle(run.workflowId, run.runId).result()) as BackupResult;
          if (Array.isArray(result?.records)) sizes[source] = backupTapeBytes(result);
        } catch {
          // A result that cannot be read leaves that source's size unknown.
        }
      }
      return sizes;
    },

    /** What each running child is doing (its `progress` query), for the fleet's details; silent children left out. */
    async fleetChildProgress(input: { workflowIds: string[] }): Promise<Record<string, ChildProgress>> {
      if (!deps.client) return {};
      const client = deps.client;
      const out: Record<string, ChildProgress> = {};
      await Promise.all(
        input.workflowIds.map(async (id) => {
          try {
            const p = await Promise.race([
              client.workflow.getHandle(id).query(progressQuery),
              new Promise<never>((_, rej) => setTimeout(() => rej(new Error('query timed out')), 5000).unref()),
            ]);
            out[id] = { stage: p.stage, outcome: p.outcome, activity: p.activity, ...(p.record ? { record: p.record } : {}) };
          } catch {
            // Not started yet, or its worker busy: shown without a stage this time.
          }
        }),
      );
      return out;
    },
  };
}

export interface ChildProgress {
  stage: string;
  outcome: string;
  activity: string;
  record?: number;
}

export type FleetActivities = ReturnType<typeof fleetActivities>;
