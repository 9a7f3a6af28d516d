/**
 * The Temporal Web UI as an operator uses it, driven by playwright-core with Debian's Chromium (no browser download):
 * start an mksysbToTape run from the UI's Start Workflow form with one line of JSON and see it complete; open a run
 * that waits for an operator after tape failures and find the reason in its details. Screenshots go to
 * $MKSYSB_TEST_ARTIFACTS. Needs the Web UI of the test run's dev server (`npm test` starts it: MKSYSB_TEST_TEMPORAL_UI).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { clientEnv, eventually, ROOT } from '../client/env';

const UI = process.env.MKSYSB_TEST_TEMPORAL_UI;
const ARTIFACTS = process.env.MKSYSB_TEST_ARTIFACTS ?? path.join(ROOT, 'test-artifacts');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function browser(): Promise<{ ctx: BrowserContext; page: Page; close: () => Promise<void> }> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mksysb-ui-'));
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(30_000);
  return {
    ctx,
    page,
    close: async () => {
      await ctx.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Fills the UI's Start Workflow form and submits it. */
/** On failure, keep what the page showed. */
async function keep<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-failed.png`), fullPage: true }).catch(() => undefined);
    fs.writeFileSync(path.join(ARTIFACTS, `${name}-failed.txt`), await page.locator('body').innerText().catch(() => ''));
    throw err;
  }
}

async function startFromForm(page: Page, f: { workflowId: string; taskQueue: string; input: string }): Promise<void> {
  await page.goto(`${UI}/namespaces/default/workflows/start-workflow`);
  await page.getByTestId('workflowId').fill(f.workflowId);
  await page.getByTestId('taskQueue').fill(f.taskQueue);
  await page.getByTestId('workflowType').fill('mksysbToTape');
  // The input is a CodeMirror editor: type into it as a person pastes.
  await page.locator('.cm-content[aria-label="Data"]').click();
  await page.keyboard.insertText(f.input);
  await page.getByTestId('workflowType').click();
  await page.getByTestId('start-workflow-button').click();
  await page.getByRole('link', { name: 'Workflow started successfully' }).waitFor();
}

/**
 * Waits until some frame of the page shows text matching `re`. The UI renders a run's markdown details (summary,
 * details, current details) in sandboxed iframes, so the page's own text does not hold them.
 */
async function frameText(page: Page, re: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const f of page.frames()) {
      const text = await f.locator('body').innerText({ timeout: 1000 }).catch(() => '');
      if (re.test(text)) return text;
    }
    if (Date.now() > deadline) throw new Error(`no frame of ${page.url()} shows ${String(re)}`);
    await page.waitForTimeout(250);
  }
}

function runUrl(workflowId: string, runId: string): string {
  return `${UI}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
}

test('Temporal Web UI', async (t) => {
  assert.ok(UI, 'MKSYSB_TEST_TEMPORAL_UI is not set: run this file with `npm test -- test/ui/web-ui.test.ts`, which starts the Web UI');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const env = await clientEnv();
  const { api, lab } = env;
  const b = await browser();
  t.after(() => b.close());
  const { page } = b;

  await t.test('a run started from the Start Workflow form with one line of JSON completes', async () => {
    const workflowId = env.newId('aix01');
    const input = '{"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}, "overwrite": true}';
    await startFromForm(page, { workflowId, taskQueue: env.config.taskQueue, input });
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-start-form.png'), fullPage: true });

    const result = await api.result(workflowId);
    assert.equal(result.verification.readBack, true);
    const { runId } = await api.status(workflowId);
    await page.goto(runUrl(workflowId, runId));
    await keep(page, 'ui-run-completed', async () => {
      await page.getByText(/^completed$/i).first().waitFor();
      await page.getByText('User Metadata', { exact: true }).first().click();
      await frameText(page, /done in \d+ s: tape in tapesrv:rmt0 verified/);
    });
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-run-completed.png'), fullPage: true });
  });

  await t.test('a run waiting after tape failures shows the reason in its details', async () => {
    await lab.fault('tapesrv', 'write-fail file=4 always');
    try {
      const workflowId = env.newId('aix01');
      await startFromForm(page, {
        workflowId,
        taskQueue: env.config.taskQueue,
        input: '{"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}, "overwrite": true, "retry": {"maxAttempts": 1}}',
      });
      const waiting = await eventually('the run to wait for an operator', async () => {
        const s = await api.status(workflowId);
        return s.progress?.waiting ? s : undefined;
      });
      const reason = waiting.progress!.waiting!.reason;
      await page.goto(runUrl(workflowId, waiting.runId));
      await keep(page, 'ui-run-waiting', async () => {
        await page.getByText(/^running$/i).first().waitFor();
        await page.getByText('User Metadata', { exact: true }).first().click();
        const details = await frameText(page, /waiting for an operator after the tape write \(record 4\) failed/);
        assert.ok(details.includes(reason.split('\n')[0]!.slice(0, 60)), `the reason "${reason}" is in the current details:\n${details}`);
        assert.match(details, /write record 4 to tapesrv:rmt0/);
        assert.match(details, /send signal\s+retry\s+with \{\}/);
      });
      await page.screenshot({ path: path.join(ARTIFACTS, 'ui-run-waiting.png'), fullPage: true });

      // The operator answers from the UI's signal form in production; here the client sends the same JSON.
      await api.abort(workflowId, { reason: 'ui test done' });
      await assert.rejects(api.result(workflowId));
    } finally {
      await lab.clearFaults('tapesrv');
    }
  });
});
