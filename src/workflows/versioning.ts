/**
 * Puts the versioning behaviour of src/shared/versioning.ts on each workflow function. Only a versioned worker
 * (MKSYSB_TAPE_DEPLOYMENT_NAME / MKSYSB_TAPE_BUILD_ID) may report one: core refuses to complete a task that carries a
 * behaviour on a worker without deployment options, and the run would time out its workflow tasks for ever. So the
 * behaviour is given only when the task runs on a worker of a named deployment (src/worker.ts gives a deployment name
 * only together with useWorkerVersioning; an unversioned worker's version has a build ID and no deployment name).
 * One place, so the workflow modules themselves carry no versioning.
 */
import type { WorkflowDefinitionOptions } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import { VERSIONING_BEHAVIORS, type VersionedWorkflowType } from '../shared/versioning';
import { driveLock, driveLockProbe } from './drive-lock';
import { mksysbFleet } from './fleet';
import { mksysbToTape } from './mksysb-to-tape';
import { workerPing } from './ping';

function behaviourOf(type: VersionedWorkflowType): () => WorkflowDefinitionOptions {
  return () => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: VERSIONING_BEHAVIORS[type] } : {});
}

setWorkflowOptions(behaviourOf('mksysbToTape'), mksysbToTape);
setWorkflowOptions(behaviourOf('mksysbFleet'), mksysbFleet);
setWorkflowOptions(behaviourOf('driveLock'), driveLock);
setWorkflowOptions(behaviourOf('driveLockProbe'), driveLockProbe);
setWorkflowOptions(behaviourOf('workerPing'), workerPing);
