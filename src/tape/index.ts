/** Pure tape and command knowledge (no I/O): safe to import from workflows. */
export * as shell from './shell';
export * as layout from './layout';
export * as digest from './digest';
export * as drivers from './drivers';
export * as images from './images';
export * as detached from './detached';
export * as fence from './fence';
export * as transfer from './transfer';
export * as inventory from './inventory';
export { quote, command } from './shell';
export { RECORDS, record, tapeBytes, paddedLength, stagingDir, stagedPath, syncFor } from './layout';
export type { RecordNumber, TapeRecordSpec } from './layout';
export { driverFor, aixDriver, linuxDriver, writeRecordAt } from './drivers';
export type { TapeDriver } from './drivers';
export type { HostOs } from './digest';
export * as volumes from './volumes';
export * as readback from './readback';
export * as stream from './stream';
