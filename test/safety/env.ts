/**
 * Helpers for the safety tests: TCP counters in front of every lab host (so a test can prove that no SSH connection
 * was even opened), the whole of a workflow's history as text (payloads decoded), and a look at every host's
 * command log.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { after } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { Lab } from '../../lab';

export interface ConnectionCounter {
  /** TCP connections accepted per lab host since the counters started. */
  counts: Record<string, number>;
  total(): number;
}

/**
 * Puts a counting TCP relay in front of every host of the lab and points the lab's inventory file at the relays.
 * Call it before the worker reads the inventory (before the first workflow starts). The relays stop when the test
 * file ends.
 */
export async function countConnections(lab: Lab): Promise<ConnectionCounter> {
  const counts: Record<string, number> = {};
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const inv = JSON.parse(fs.readFileSync(lab.inventoryPath, 'utf8')) as { hosts: Record<string, { port: number }> };
  for (const h of lab.hosts) {
    counts[h.name] = 0;
    const srv = net.createServer((client) => {
      counts[h.name]! += 1;
      const up = net.connect(h.port, h.address);
      for (const s of [client, up]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(up).pipe(client);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    servers.push(srv);
    inv.hosts[h.name]!.port = (srv.address() as net.AddressInfo).port;
  }
  fs.writeFileSync(lab.inventoryPath, JSON.stringify(inv, null, 2) + '\n');
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
  return { counts, total: () => Object.values(counts).reduce((a, b) => a + b, 0) };
}

/** Every command-log entry of every lab host, by host. */
export async function allCommandLogs(lab: Lab): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const h of lab.hosts) out[h.name] = await lab.commandLog(h.name);
  return out;
}

export async function assertNoCommands(lab: Lab, why: string): Promise<void> {
  const logs = await allCommandLogs(lab);
  for (const [host, entries] of Object.entries(logs)) assert.deepEqual(entries, [], `${why}: ${host}'s command log`);
}

/**
 * The workflow's whole history as one text: every event as JSON, with every byte field (payload data, metadata,
 * failure details, heartbeat details, memo, search attributes) decoded as UTF-8 and also kept as base64, plus the
 * workflow's description (memo, search attributes, current details) and its progress query when it answers.
 */
export async function historyText(handle: WorkflowHandle): Promise<string> {
  const history = await handle.fetchHistory();
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) {
      const b = Buffer.from(v);
      parts.push(b.toString('utf8'), b.toString('base64'));
      return `<${b.length} bytes>`;
    }
    if (v && typeof v === 'object') {
      if (seen.has(v)) return null;
      seen.add(v);
      if (Array.isArray(v)) return v.map(walk);
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = walk(x);
      return o;
    }
    return v;
  };
  parts.push(JSON.stringify(walk(history)));
  const desc = await handle.describe();
  parts.push(JSON.stringify(walk(desc.raw)));
  parts.push(JSON.stringify(desc.memo ?? {}), JSON.stringify(desc.searchAttributes ?? {}));
  const progress = await handle.query('progress').catch(() => undefined);
  if (progress !== undefined) parts.push(JSON.stringify(progress));
  return parts.join('\n');
}
