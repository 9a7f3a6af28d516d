/**
 * Activities of the fleet workflow (src/workflows/fleet.ts): resolving the sources (a list or an inventory group) and
 * the drives against the inventory, the image sizes of earlier backups, read from Temporal's visibility (the last
 * completed mksysbToTape run of each source) so that the fleet can start the longest backups first, and the wait for
 * the children of the fleet's earlier runs once it has continued as new.
 */
import { setMaxListeners } from 'node:events';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { loadInventory } from '../schema/load-inventory';
import { hostHasRole, type Inventory } from '../schema';
import { WORKFLOW_TYPE, type BackupResult } from '../shared/contract';
import { describeChildFailure } from '../shared/failures';
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

    /**
     * Waits until at least one of `children` (backups an earlier run of the fleet started) has ended, and returns
     * every one that has by then: ok with its tape bytes, or failed with the reason (a failure, cancellation,
     * termination or time-out). Long-polls each child's result; heartbeats so that a lost worker is noticed and the
     * next attempt watches again. A child Temporal no longer knows is reported failed.
     */
    async awaitFleetChildren(input: { children: Array<{ workflowId: string; runId?: string }> }): Promise<{ ended: FleetChildEnd[] }> {
      if (!deps.client) throw ApplicationFailure.nonRetryable('the worker has no Temporal client to watch the fleet\'s children', 'NoClient');
      const client = deps.client;
      const ctx = Context.current();
      // One abort per child: the client adds a listener to it for each long poll (one every 20 s or so) and never
      // removes it, so the count, bounded by the attempt's length, is allowed past Node's default warning at 10.
      const stops = input.children.map(() => {
        const c = new AbortController();
        setMaxListeners(1000, c.signal);
        return c;
      });
      const beat = setInterval(() => ctx.heartbeat(), 10_000);
      ctx.heartbeat();
      try {
        const ended: FleetChildEnd[] = [];
        await new Promise<void>((resolve, reject) => {
          ctx.cancelled.catch(reject);
          input.children.forEach((c, i) => {
            const stop = stops[i]!;
            client
              .withAbortSignal(stop.signal, () => client.workflow.getHandle(c.workflowId, c.runId).result())
              .then(
                (r) => ({ workflowId: c.workflowId, ok: true as const, bytes: backupTapeBytes(r as BackupResult) }),
                (err: unknown) => {
                  if (err instanceof WorkflowFailedError) return { workflowId: c.workflowId, ok: false as const, error: describeChildFailure(err.cause ?? err) };
                  if (err instanceof WorkflowNotFoundError) return { workflowId: c.workflowId, ok: false as const, error: `backup run ${c.workflowId} is no longer known to Temporal` };
                  throw err;
                },
              )
              .then((end) => {
                ended.push(end);
                resolve();
              }, (err: unknown) => {
                if (!stop.signal.aborted) reject(err as Error);
              });
          });
        });
        // Children that ended at the same moment come back in one answer (one activity's events for them all).
        await new Promise((r) => setTimeout(r, 200));
        return { ended };
      } finally {
        clearInterval(beat);
        for (const stop of stops) stop.abort();
      }
    },
  };
}

/** How a child of an earlier run of the fleet ended. */
export type FleetChildEnd = { workflowId: string; ok: true; bytes: number } | { workflowId: string; ok: false; error: string };

export type FleetActivities = ReturnType<typeof fleetActivities>;
