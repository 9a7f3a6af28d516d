import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { randomUUID } from 'node:crypto';
import { testTemporal, startProjectWorker } from '../helpers/temporal';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';

test('a workflow and an activity run through a real worker on the real dev server', async () => {
  const t = await testTemporal();
  const config = t.config({ inventoryPath: '/nonexistent/inventory.json' });
  await startProjectWorker({ config });
  const result = await t.client.workflow.execute('workerPing', {
    taskQueue: config.taskQueue,
    workflowId: `smoke-${randomUUID()}`,
  });
  assert.equal(result.hostname, os.hostname());
  assert.equal(result.inventoryPath, '/nonexistent/inventory.json');
  assert.equal(result.pid, process.pid, 'the activity ran in this worker process');
});

test('the dev server has the project search attributes registered', async () => {
  const t = await testTemporal();
  const res = await t.connection.operatorService.listSearchAttributes({ namespace: 'default' });
  for (const key of SEARCH_ATTRIBUTES) {
    assert.ok(res.customAttributes?.[key.name] !== undefined, `search attribute ${key.name} is registered`);
  }
});
