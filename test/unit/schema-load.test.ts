/**
 * loadInventory: a clear error naming the file for every way reading it can fail.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InventoryValidationError } from '../../src/schema';
import { loadInventory } from '../../src/schema/load-inventory';

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnddLgXB3hsSbMzFNOr4moMSjpgUr+cN1Al';
const GOOD = {
  hosts: {
    aix01: {
      address: '127.0.0.1', port: 40101, user: 'root', os: 'aix', role: 'source', workFolder: '/home/mksysb',
      key: { path: '/abs/id_ed25519' }, hostKey: HOST_KEY,
    },
  },
};

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'schema-load-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(path: string): Promise<InventoryValidationError> {
  try {
    await loadInventory(path);
  } catch (err) {
    assert.ok(err instanceof InventoryValidationError, String(err));
    return err;
  }
  assert.fail(`${path} was accepted`);
}

describe('loadInventory', () => {
  it('reads and validates a good file', async () => {
    const path = join(dir, 'good.json');
    await writeFile(path, JSON.stringify(GOOD, null, 2));
    const inv = await loadInventory(path);
    assert.equal(inv.hosts.aix01?.port, 40101);
    assert.deepEqual(inv.groups, {});
  });

  it('names a missing file', async () => {
    const path = join(dir, 'missing.json');
    const err = await refusal(path);
    assert.equal(err.message, `cannot read inventory ${path}: the file does not exist`);
  });

  it('names a folder given as the file', async () => {
    const err = await refusal(dir);
    assert.equal(err.message, `cannot read inventory ${dir}: it is a folder, not a file`);
  });

  it('gives line and column of bad JSON', async () => {
    const path = join(dir, 'bad.json');
    await writeFile(path, '{\n  "hosts": {\n    "aix01": {},\n  }\n}\n');
    const err = await refusal(path);
    assert.match(err.message, new RegExp(`^inventory ${path} is not valid JSON: .* at line 4, column 3$`));
  });

  it('names an empty file', async () => {
    const path = join(dir, 'empty.json');
    await writeFile(path, '');
    const err = await refusal(path);
    assert.match(err.message, new RegExp(`^inventory ${path} is not valid JSON: `));
  });

  it('names the file in field problems', async () => {
    const path = join(dir, 'invalid.json');
    await writeFile(path, JSON.stringify({ hosts: { aix01: { ...GOOD.hosts.aix01, user: 'root;id' } } }));
    const err = await refusal(path);
    assert.equal(
      err.message,
      `invalid inventory ${path}: hosts.aix01.user "root;id": must be a login name: lower-case letters, digits, "_" and "-", ` +
        'starting with a letter or "_", at most 32 characters',
    );
  });
});
