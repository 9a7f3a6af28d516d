/**
 * One validation schema for the workflow input and the host inventory.
 *
 * Safe for the Temporal workflow sandbox: this folder imports nothing but zod, except load-inventory.ts (fs),
 * which is not exported here and which workflow code must never import.
 */
export {
  backupInputSchema,
  BACKUP_DEFAULTS,
  parseBackupInput,
  VERIFY_LEVELS,
  type BackupInput,
  type ParseBackupContext,
  type ResolvedBackup,
  type VerifyLevel,
} from './backup-input';
export {
  hostHasRole,
  inventorySchema,
  parseInventory,
  pullRoute,
  ROLES,
  rolesOf,
  type Inventory,
  type InventoryFile,
  type InventoryHost,
  type KeySource,
  type PullRoute,
  type Role,
} from './inventory';
export { checkInputAgainstInventory, type CheckedBackup } from './check';
export {
  InputValidationError,
  InventoryValidationError,
  ValidationError,
  type ValidationIssue,
} from './format';
export { HOST_KEY_TYPES } from './rules';
export { deviceOs, HOST_OSES, MKSYSB_FLAGS, normaliseMksysbFlags, type HostOs, type MksysbFlag } from './tape-rules';
