/**
 * The recorded histories of test/replay/histories/: one JSON file per workflow run, in the format of
 * `temporal workflow show --output json`, and manifest.json, which says for each file the situation it shows, its
 * workflow type and workflow ID (the workflows use their ID, and the replayer takes it apart from the history) and
 * the commit it was recorded against. Written by scripts/record-histories.ts, replayed by
 * replay.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { History } from '@temporalio/common/lib/proto-utils';
import { historyFromJson } from './history-json';

export const HISTORIES_DIR = path.join(__dirname, 'histories');
export const MANIFEST_PATH = path.join(HISTORIES_DIR, 'manifest.json');

export interface RecordedHistory {
  /** File name in HISTORIES_DIR. */
  file: string;
  /** Situation name (see SITUATIONS in situations.ts). */
  situation: string;
  workflowType: string;
  workflowId: string;
  runId: string;
  recordedAt: string;
  /** `git rev-parse HEAD` when recorded, and whether src/workflows or src/shared had changes not committed then. */
  commit: string;
  workflowCodeChanged: boolean;
  sdkVersion: string;
}

export interface Manifest {
  histories: RecordedHistory[];
}

export function readManifest(): Manifest {
  return JSON.parse(fs.readFileSync(MANIFEST_PATH, 'utf8')) as Manifest;
}

export function readHistory(entry: Pick<RecordedHistory, 'file'>): History {
  return historyFromJson(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, entry.file), 'utf8')));
}
