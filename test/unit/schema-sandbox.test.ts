/**
 * src/schema runs inside the Temporal workflow sandbox: Temporal's own bundler must accept it (it refuses Node
 * built-ins), while the file loader, which uses fs, must stay out of it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

const SCHEMA_DIR = join(__dirname, '../../src/schema');
const quiet = new DefaultLogger('ERROR', () => undefined);

describe('src/schema in the workflow sandbox', () => {
  it('imports only zod and its own files (load-inventory.ts aside)', () => {
    let zodImports = 0;
    for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.ts') && f !== 'load-inventory.ts')) {
      const text = readFileSync(join(SCHEMA_DIR, file), 'utf8');
      const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms)].map((m) => m[1]);
      zodImports += specifiers.filter((s) => s === 'zod').length;
      for (const s of specifiers) assert.ok(s === 'zod' || /^\.\/[a-z-]+$/.test(s ?? ''), `${file} imports ${s}`);
      assert.ok(!/\brequire\(/.test(text), `${file} calls require`);
      assert.ok(!text.includes("'./load-inventory'"), `${file} imports the loader`);
    }
    assert.ok(zodImports >= 4, 'the import scan found the zod imports');
  });

  it('bundles with bundleWorkflowCode', { timeout: 60_000 }, async () => {
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve(SCHEMA_DIR), logger: quiet });
    assert.ok(bundle.code.includes('invalid backup input'));
  });

  it('the bundler refuses the loader (the check above is real)', { timeout: 60_000 }, async () => {
    const origError = console.error;
    console.error = () => undefined; // webpack prints its refusal
    try {
      await assert.rejects(
        bundleWorkflowCode({ workflowsPath: require.resolve(join(SCHEMA_DIR, 'load-inventory')), logger: quiet }),
      );
    } finally {
      console.error = origError;
    }
  });
});
