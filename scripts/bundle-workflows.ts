/**
 * Bundles the workflow code ahead of time for production workers (`npm run build`): writes lib/workflow-bundle.js.
 * Start a worker on it with MKSYSB_TAPE_WORKFLOW_BUNDLE=lib/workflow-bundle.js node lib/src/worker.js.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(root, 'src', 'workflows', 'index.ts') });
  const out = path.join(root, 'lib', 'workflow-bundle.js');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  console.log(`wrote ${path.relative(root, out)} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
