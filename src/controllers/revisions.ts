// ControllerRevision helpers every workload controller with a pod-template history uses
// (StatefulSet, DaemonSet): Go-compatible canonical JSON of the revision data, the FNV-32 +
// safe-alphabet hash, `<owner>-<hash>` names, revision numbers and ordering. They live with
// the StatefulSet controller, which came first; this module is the kind-neutral way in.
export {
  applyRevision,
  canonicalJSON,
  equalRevisions,
  fnv32,
  hashRevisionData,
  nextRevisionNumber,
  revisionData,
  revisionName,
  revisionNumber,
  safeEncodeString,
  sortRevisions,
  templateFromRevision,
} from './statefulset/revision.ts';
