/** Backups through the client API: the client class, its shapes, the fields a run starts with, schedules. */
export { MksysbTapeClient } from './client';
export { OVERLAP, OVERLAP_POLICIES } from './schedules';
export { calendarText } from './calendar';
export { backupDetails, backupSummary, listQuery, validateBackupInput, workflowIdFor } from './run-fields';
export { describeFailure } from '../errors';
export type {
  BackupStatus,
  BackupSummary,
  HeartbeatProgress,
  ListFilter,
  MksysbTapeClientOptions,
  OverlapPolicy,
  PendingStep,
  RunStatus,
  ScheduleBackupOptions,
  ScheduleInfo,
  StartBackupOptions,
  StartedBackup,
} from './types';
