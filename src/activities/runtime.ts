/** What transfer.ts still imports by its old path; it moves to hosts, failures, context and remote-exec next. */
export { ActivityHosts as Runtime } from './hosts';
export { cancellationSignal, heartbeat } from './context';
export { commandFailure, mapSshErrors } from './failures';
export { execIdempotent } from './remote-exec';
