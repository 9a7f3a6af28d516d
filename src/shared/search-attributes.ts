/**
 * Custom search attributes the mksysbToTape workflow keeps current, so that visibility queries such as
 * `MksysbSource = "aix01" AND MksysbOutcome = "failed"` find runs in the Temporal UI, the CLI and the client API.
 * Pure module: imported by workflow code as well as by the worker, the client and the test harness.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA_SOURCE = defineSearchAttributeKey('MksysbSource', SearchAttributeType.KEYWORD);
export const SA_TAPE_HOST = defineSearchAttributeKey('MksysbTapeHost', SearchAttributeType.KEYWORD);
export const SA_TAPE_DEVICE = defineSearchAttributeKey('MksysbTapeDevice', SearchAttributeType.KEYWORD);
export const SA_STAGE = defineSearchAttributeKey('MksysbStage', SearchAttributeType.KEYWORD);
export const SA_OUTCOME = defineSearchAttributeKey('MksysbOutcome', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [SA_SOURCE, SA_TAPE_HOST, SA_TAPE_DEVICE, SA_STAGE, SA_OUTCOME] as const;
