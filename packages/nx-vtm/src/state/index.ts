/**
 * The state area: the cross-process task store (SQLite, leases, fencing), its task-state.json projection, the event
 * log, and the pure pieces they are built from (status transitions, lease judgement, record types).
 */
export {
  openTaskStore,
  systemClock,
  systemIdentity,
  TaskStore,
  type AdmitFn,
  type ClaimResult,
  type Clock,
  type IdentityPort,
  type ManifestHashCheck,
  type OpenTaskStoreOptions,
  type RunningClaim,
  type StaleClaim,
  type StoreRefusal,
  type WaitingTask,
} from './task-store';
export {
  dependencyFailedReason,
  isCompletedFor,
  KNOWN_REASONS,
  TASK_STATUSES,
  type FinalStatus,
  type KnownReason,
  type ProcessIdentity,
  type TaskClaim,
  type TaskOutcome,
  type TaskRecord,
  type TaskStatus,
  type TestResults,
} from './task-record';
export { checkTransition, getAllowedTargets, type IllegalTransition } from './transitions';
export { judgeOwner, type OwnerVerdict, type StaleCause } from './lease';
export {
  buildImportedRecords,
  buildStateEntry,
  buildStateSnapshot,
  readStateFile,
  seedTaskStateFileSchema,
  taskStateFileSchema,
  writeStateFile,
  type TaskStateEntry,
  type TaskStateFile,
} from './state-file';
export {
  appendEventLine,
  buildEventLine,
  EVENT_TYPES,
  parseEventLog,
  readEventLog,
  type EventInput,
  type EventType,
  type VtmEvent,
} from './event-log';
export {
  HOST_ID_ENV,
  isProcessAlive,
  isSameProcess,
  readBootId,
  readHostId,
  readProcessIdentity,
  readProcessStartTime,
  realProcSource,
  type ProcSource,
} from './process-identity';
