/**
 * The client API of mksysb-tape for other services: start backups, follow and answer them, list them, schedule them.
 * See docs/client-api.md.
 */
export {
  MksysbTapeClient,
  OVERLAP_POLICIES,
  backupDetails,
  backupSummary,
  describeFailure,
  listQuery,
  validateBackupInput,
  workflowIdFor,
  type BackupStatus,
  type BackupSummary,
  type HeartbeatProgress,
  type ListFilter,
  type MksysbTapeClientOptions,
  type OverlapPolicy,
  type PendingStep,
  type RunStatus,
  type ScheduleBackupOptions,
  type ScheduleInfo,
  type StartBackupOptions,
  type StartedBackup,
} from './backups';
export {
  BackupAlreadyStartedError,
  BackupNotFoundError,
  FleetError,
  OperatorRequestRejectedError,
  ScheduleError,
  SearchAttributesMissingError,
  TemporalUnreachableError,
  type SearchAttributeProblem,
} from './errors';
export { FleetClient, fleetWorkflowId, type FleetRunStatus, type FleetScheduleEntry, type StartFleetOptions } from './fleets';
export { checkInventory, requiredCommands, REQUIRED_COMMANDS, type HostCheck, type InventoryCheckOptions, type InventoryCheckReport } from './inventory-check';
export { follow, createProgressView, type ProgressView } from './progress';
export { InputValidationError } from '../schema';
export {
  WORKFLOW_TYPE,
  defaultWorkflowId,
  type AbortRequest,
  type BackupInput,
  type BackupProgress,
  type BackupResult,
  type Outcome,
  type RetryRequest,
  type StageName,
} from '../shared/contract';
