// Events for controllers: the shared core/v1 Event recorder of src/client/events.ts (aggregation
// of repeats, bounded queue, writes that never fail the caller). A controller's recorder names
// it in source.component (e.g. `statefulset-controller`) and has no spam filter: a 500-replica
// set shows every SuccessfulCreate; the bounded queue is what keeps a misbehaving controller
// from flooding the API server.
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
