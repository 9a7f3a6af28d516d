/**
 * Reading the inventory file on the worker. Uses fs: workflow code must never import this file.
 */
import { readFile } from 'node:fs/promises';
import { InventoryValidationError } from './format';
import { parseInventory, type Inventory } from './inventory';

/**
 * Read, parse and validate the inventory at `path`. Every failure is an `InventoryValidationError` whose message
 * names the file: missing or unreadable, not JSON (with line and column), or invalid (every bad field).
 */
export async function loadInventory(path: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'the file does not exist' :
      e.code === 'EACCES' ? 'permission denied' :
      e.code === 'EISDIR' ? 'it is a folder, not a file' :
      e.message;
    throw loadError(`cannot read inventory ${path}: ${why}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw loadError(`inventory ${path} is not valid JSON: ${jsonErrorWhere(text, (err as Error).message)}`);
  }
  return parseInventory(raw, path);
}

function loadError(message: string): InventoryValidationError {
  return new InventoryValidationError([{ path: '', message }], { message });
}

/** V8's JSON error with the byte position turned into line and column, which editors show. */
function jsonErrorWhere(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `${message.replace(/ in JSON at position \d+.*$/, '').replace(/ at position \d+.*$/, '')} at line ${line}, column ${column}`;
}
