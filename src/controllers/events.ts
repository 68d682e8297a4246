// Events for controllers: the shared core/v1 Event recorder of src/client/events.ts (aggregation
// of repeats, client-go's per-object spam filter, bounded queue, writes that never fail the
// caller). A controller's recorder names it in source.component (e.g. `statefulset-controller`).
// As in Kubernetes, an object gets at most 25 events from one controller at once, then one per
// 5 minutes: a 500-replica set shows its first 25 SuccessfulCreate events.
export {
  EVENTS as EVENTS_RESOURCE,
  EventRecorder,
  MemoryEventRecorder as MemoryRecorder,
  eventTarget,
  type EventRecorderOptions,
  type EventTarget,
  type EventType,
  type RecordedEvent,
  type Recorder,
} from '../client/events.ts';
