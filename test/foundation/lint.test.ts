import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '..', '..');

async function lintWorkflowSource(source: string): Promise<string[]> {
  const file = path.join(root, 'src', 'workflows', `lint-probe-${randomUUID()}.ts`);
  fs.writeFileSync(file, source);
  try {
    const eslint = new ESLint({ cwd: root });
    const [result] = await eslint.lintFiles([file]);
    return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

test('a workflow file importing fs fails lint', async () => {
  const msgs = await lintWorkflowSource("import * as fs from 'fs';\nexport const probe = fs;\n");
  assert.ok(msgs.some((m) => m.startsWith('no-restricted-imports') && m.includes("'fs'")), msgs.join('\n'));
});

test('a workflow file importing node:child_process fails lint', async () => {
  const msgs = await lintWorkflowSource("import { exec } from 'node:child_process';\nexport const probe = exec;\n");
  assert.ok(msgs.some((m) => m.startsWith('no-restricted-imports')), msgs.join('\n'));
});

test('a workflow file importing ssh2 fails lint', async () => {
  const msgs = await lintWorkflowSource("import { Client } from 'ssh2';\nexport const probe = Client;\n");
  assert.ok(msgs.some((m) => m.startsWith('no-restricted-imports') && m.includes("'ssh2'")), msgs.join('\n'));
});

test('a workflow file importing activity code (not types) fails lint; a type import passes', async () => {
  const bad = await lintWorkflowSource("import { createActivities } from '../activities';\nexport const probe = createActivities;\n");
  assert.ok(bad.some((m) => m.startsWith('no-restricted-imports')), bad.join('\n'));
  const ok = await lintWorkflowSource("import type { Activities } from '../activities';\nexport type Probe = Activities;\n");
  assert.deepEqual(ok, []);
});
