/** Every workflow the worker runs. Workflow code is deterministic: see eslint.config.mjs for what it may import. */
export { workerPing } from './ping';
export { mksysbToTape } from './mksysb-to-tape';
export { driveLock, driveLockProbe } from './drive-lock';
export { mksysbFleet } from './fleet';
// Each type's Worker Deployment Versioning behaviour (pinned or auto-upgrade), set on the functions above.
import './versioning';
